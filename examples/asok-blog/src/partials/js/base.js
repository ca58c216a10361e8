// Marks the current page's link in the navigation.
const here = window.location.pathname.replace(/\/$/, "") || "/";
for (const link of document.querySelectorAll(".site-nav a")) {
  if ((link.getAttribute("href") || "") === here) link.setAttribute("aria-current", "page");
}
document.documentElement.setAttribute("data-js-base", "ran");
