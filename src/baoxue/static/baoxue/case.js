// The case page, progressively enhanced: without this file every field shows and every form
// still works.
(function () {
  "use strict";
  // The evidence form shows the fields of the chosen reason only.
  document.querySelectorAll("select[data-reason-select]").forEach(function (select) {
    var form = select.closest("form");
    function show() {
      form.querySelectorAll("[data-reason-for]").forEach(function (group) {
        var reasons = group.getAttribute("data-reason-for").split(" ");
        group.hidden = select.value !== "" && reasons.indexOf(select.value) < 0;
      });
    }
    select.addEventListener("change", show);
    show();
  });
  // The people picker: typing narrows the list of accounts (name, role, place).
  document.querySelectorAll("input[data-filter-for]").forEach(function (input) {
    var select = document.getElementById(input.getAttribute("data-filter-for"));
    if (!select) return;
    input.addEventListener("input", function () {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        var text = option.textContent.toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        option.hidden = !match;
        if (match && first === null) first = option;
      });
      if (first && select.selectedOptions.length && select.selectedOptions[0].hidden) {
        select.value = first.value;
      }
    });
  });
})();
