from asok import Request

LATEST = {
    "title": "A kettle, reconsidered",
    "summary": "Why the plainest object on the counter is the best designed one.",
    "image": "images/posts/kettle.jpg",
}


def render(request: Request):
    return request.html("page.html", post=LATEST)
