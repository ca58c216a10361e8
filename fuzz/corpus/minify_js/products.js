(function () {
  var items = document.querySelectorAll(".product");
  for (var i = 0; i < items.length; i++) items[i].dataset.index = String(i);
})();
document.documentElement.setAttribute("data-js-products", "ran");
