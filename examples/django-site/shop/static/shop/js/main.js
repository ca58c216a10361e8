import { markReady } from "./util.js";

markReady(document.querySelector(".brand"));
document.documentElement.setAttribute("data-js-main", "ran");
