/* catalog.js -- client-side filtering of the product list. Needs util.js. */
(function (global) {
  "use strict";
  const Shop = global.Shop || (global.Shop = {});
  const { $, $$, debounce } = Shop.util;

  /** Lower-cases and strips accents so "Celadon" matches "céladon". */
  const normalize = (text) =>
    String(text ?? "")
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .trim();

  class Catalog {
    constructor({ input = "#filter", list = "#products", total = 0 } = {}) {
      this.input = $(input);
      this.list = $(list);
      this.total = total;
      this.counter = $(".filter-count");
    }

    get items() {
      return this.list ? $$("li.product", this.list) : [];
    }

    apply(query) {
      const needle = normalize(query);
      let shown = 0;
      for (const item of this.items) {
        const haystack = normalize(`${item.dataset.name} ${item.textContent}`);
        const match = needle === "" || haystack.includes(needle);
        item.hidden = !match;
        if (match) shown += 1;
      }
      if (this.counter) {
        this.counter.textContent = shown === this.total ? `${shown} shown` : `${shown} of ${this.total} shown`;
      }
      Shop.events?.emit("catalog:filter", { query: needle, shown });
      return shown;
    }

    bind() {
      if (!this.input || !this.list) return this;
      const run = debounce(() => this.apply(this.input.value), 120);
      this.input.addEventListener("input", run);
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          this.input.value = "";
          this.apply("");
        }
      });
      return this;
    }
  }

  Shop.catalog = {
    Catalog,
    instance: null,
    init(options = {}) {
      const start = () => {
        this.instance = new Catalog(options).bind();
      };
      Shop.util.ready(start);
      return this;
    },
  };
})(typeof window !== "undefined" ? window : globalThis);
