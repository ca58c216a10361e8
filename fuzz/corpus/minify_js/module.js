import { a } from "./a.js";
export default class B extends a { async *g() { yield await this.x?.y ?? 2 ** 3; } }
const t = `x${1 + 1}`; /*! keep */ label: for (;;) break label;
