from asok import Request

POSTS = [
    {
        "title": "A kettle, reconsidered",
        "summary": "Why the plainest object on the counter is the best designed one.",
        "image": "images/posts/kettle.jpg",
    },
    {
        "title": "Light to read by",
        "summary": "Three desk lamps, one winter, and what the eye prefers.",
        "image": "images/posts/lamp.jpg",
    },
]


def render(request: Request):
    return request.html("page.html", posts=POSTS)
