// Shows an estimated reading time on each post card (200 words a minute).
(function () {
  var cards = document.querySelectorAll(".post-card");
  for (var i = 0; i < cards.length; i++) {
    var words = cards[i].textContent.trim().split(/\s+/).length;
    var note = document.createElement("small");
    note.textContent = Math.max(1, Math.round(words / 200)) + " min read";
    cards[i].appendChild(note);
  }
  document.documentElement.setAttribute("data-js-reading", "ran");
})();
