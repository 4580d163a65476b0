// Bulk action dialogs: show the modal when htmx loads it. What a dialog does
// inside is its action's own script (e.g. accounts' js/assign.js).
(function () {
  "use strict";
  if (window.bulkDialogsBound) return;
  window.bulkDialogsBound = true;

  // A dialog refused with 409 (count changed, overlap) or 422 (invalid
  // fields) carries its message: show it instead of dropping the response.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    const target = event.detail.target;
    if ((status === 409 || status === 422) && target && target.closest("#bulk-dialog")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "bulk-dialog") {
      bootstrap.Modal.getOrCreateInstance(event.detail.target).show();
    }
  });
})();
