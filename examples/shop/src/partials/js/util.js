/*! shop util v1.0 | MIT License */
"use strict";
(function (global) {
  const Shop = global.Shop || (global.Shop = {});

  const currency = typeof Intl !== "undefined"
    ? new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" })
    : null;

  /** Formats an integer amount of cents, e.g. 1800 -> "$18.00". */
  const money = (cents) => {
    const value = (Number(cents) || 0) / 100;
    return currency ? currency.format(value) : `$${value.toFixed(2)}`;
  };

  /** Calls fn at most once per `wait` ms, after the calls stop. */
  function debounce(fn, wait = 150) {
    let timer = null;
    return function debounced(...args) {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        fn.apply(this, args);
      }, wait);
    };
  }

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  /** Runs fn once the DOM is ready (immediately if it already is). */
  const ready = (fn) => {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn, { once: true });
    } else {
      fn();
    }
  };

  /** Event delegation: handler(event, matchedElement). */
  const on = (root, type, selector, handler) => {
    root.addEventListener(type, (event) => {
      const target = event.target?.closest?.(selector);
      if (target && root.contains(target)) handler(event, target);
    });
  };

  /** A tiny event emitter shared by the cart and the catalog. */
  class Emitter {
    constructor() {
      this.listeners = new Map();
    }

    on(name, fn) {
      const list = this.listeners.get(name) ?? [];
      list.push(fn);
      this.listeners.set(name, list);
      return () => this.off(name, fn);
    }

    off(name, fn) {
      const list = this.listeners.get(name) ?? [];
      this.listeners.set(name, list.filter((f) => f !== fn));
    }

    emit(name, detail) {
      for (const fn of this.listeners.get(name) ?? []) {
        try {
          fn(detail);
        } catch (err) {
          console.error(`Shop: listener for "${name}" failed`, err);
        }
      }
    }
  }

  Shop.util = { money, debounce, $, $$, ready, on, Emitter };
  Shop.events = Shop.events || new Emitter();
})(typeof window !== "undefined" ? window : globalThis);
