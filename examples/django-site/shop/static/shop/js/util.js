export function markReady(el) { if (el) el.dataset.ready = "yes"; }
document.documentElement.setAttribute("data-js-util", "ran");
