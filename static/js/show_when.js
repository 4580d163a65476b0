// Shows a dialog's part only when the form's choices call for it:
// data-show-when="source:free_text channel:email" shows the element while the
// field "source" is "free_text" and "channel" is "email". Hidden parts keep
// their values; the server checks every case whatever is shown.
(function () {
  "use strict";
  if (window.showWhenBound) return;
  window.showWhenBound = true;

  function valueOf(form, name) {
    const checked = form.querySelector('[name="' + name + '"]:checked');
    if (checked) return checked.value;
    const field = form.querySelector('[name="' + name + '"]:not([type=radio]):not([type=checkbox])');
    return field ? field.value : "";
  }

  function update(scope) {
    scope.querySelectorAll("[data-show-when]").forEach(function (el) {
      const form = el.closest("form");
      if (!form) return;
      const shown = el.dataset.showWhen.split(/\s+/).every(function (condition) {
        const parts = condition.split(":");
        return parts[1].split(",").indexOf(valueOf(form, parts[0])) !== -1;
      });
      el.hidden = !shown;
    });
  }

  document.body.addEventListener("change", function (event) {
    const form = event.target.closest && event.target.closest("form");
    if (form && form.querySelector("[data-show-when]")) update(form);
  });
  document.body.addEventListener("htmx:afterSwap", function (event) { update(event.detail.target); });
  document.addEventListener("DOMContentLoaded", function () { update(document); });
})();
