// The "Select all" boxes of a filter menu (the Diary, the Journal) tick or clear every option of their filter;
// an option unticked by hand unticks "Select all". Nothing ticked means all.
(function () {
  "use strict";
  if (window.filterChoicesBound) return;
  window.filterChoicesBound = true;
  function options(name) {
    return document.querySelectorAll('input[type=checkbox][name="' + name + '"]');
  }
  function sync(name) {
    const all = document.querySelector('[data-select-all="' + name + '"]');
    const boxes = Array.from(options(name));
    if (all) all.checked = boxes.length > 0 && boxes.every(function (b) { return b.checked; });
  }
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target.dataset && target.dataset.selectAll) {
      options(target.dataset.selectAll).forEach(function (b) { b.checked = target.checked; });
    } else if (target.name && target.type === "checkbox") {
      sync(target.name);
    }
  });
  document.querySelectorAll("[data-select-all]").forEach(function (all) { sync(all.dataset.selectAll); });
})();
