/* cart.js -- a localStorage-backed shopping cart. Needs util.js. */
(function (global) {
  "use strict";
  const Shop = global.Shop || (global.Shop = {});
  const { $, $$, money, ready, on } = Shop.util;
  const STORAGE_KEY = "shop.cart.v1";

  /** Storage may be missing or throw (private mode, disabled cookies, quota). */
  function safeStorage() {
    try {
      const storage = global.localStorage;
      const probe = "__shop_probe__";
      storage.setItem(probe, probe);
      storage.removeItem(probe);
      return storage;
    } catch (err) {
      return null;
    }
  }

  class Cart {
    constructor(storage = safeStorage()) {
      this.storage = storage;
      this.items = this.load();
    }

    load() {
      try {
        const raw = this.storage?.getItem(STORAGE_KEY);
        const parsed = raw ? JSON.parse(raw) : {};
        return parsed && typeof parsed === "object" ? parsed : {};
      } catch (err) {
        return {};
      }
    }

    save() {
      try {
        this.storage?.setItem(STORAGE_KEY, JSON.stringify(this.items));
      } catch (err) {
        // Quota exceeded or storage disabled: keep the cart in memory only.
      }
      Shop.events?.emit("cart:change", this);
    }

    add(slug, priceCents, quantity = 1) {
      const line = this.items[slug] ?? { quantity: 0, price: Number(priceCents) || 0 };
      line.quantity += quantity;
      this.items[slug] = line;
      this.save();
      return line.quantity;
    }

    remove(slug) {
      delete this.items[slug];
      this.save();
    }

    get count() {
      return Object.values(this.items).reduce((sum, line) => sum + line.quantity, 0);
    }

    get totalCents() {
      return Object.values(this.items).reduce((sum, line) => sum + line.quantity * line.price, 0);
    }

    clear() {
      this.items = {};
      this.save();
    }
  }

  const render = (cart) => {
    for (const el of $$(".cart-count")) el.textContent = String(cart.count);
    const button = $(".cart-button");
    if (button) button.title = `${cart.count} item(s), ${money(cart.totalCents)}`;
  };

  const cart = new Cart();
  Shop.Cart = Cart;
  Shop.cart = cart;

  ready(() => {
    render(cart);
    Shop.events?.on("cart:change", render);
    on(document, "click", "[data-add-to-cart]", (event, button) => {
      event.preventDefault();
      cart.add(button.dataset.addToCart, button.dataset.price);
    });
  });
})(typeof window !== "undefined" ? window : globalThis);
