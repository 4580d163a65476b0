// The Export dialog's column chooser: the arrows move a column up or down.
// The ticked columns are submitted in their row order, which is the file's.
(function () {
  "use strict";
  if (window.exportDialogBound) return;
  window.exportDialogBound = true;

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-export-move]");
    if (!button) return;
    const row = button.closest("tr[data-export-column]");
    if (button.dataset.exportMove === "up" && row.previousElementSibling) {
      row.parentNode.insertBefore(row, row.previousElementSibling);
    } else if (button.dataset.exportMove === "down" && row.nextElementSibling) {
      row.parentNode.insertBefore(row.nextElementSibling, row);
    }
    button.focus();
  });
})();
