// Behaviour every page shares, kept out of the templates so that the
// Content-Security-Policy (script-src 'self', no inline script or style
// attribute) holds:
// - [data-progress-percent] sets the element's width (a progress bar), on load
//   and whenever htmx swaps new content in. A CSSOM assignment is allowed by
//   the policy; a style="" attribute in the markup is not.
// - form[data-confirm] asks before submitting (instead of onsubmit="...").
(function () {
  "use strict";
  if (window.appBound) return;
  window.appBound = true;

  function applyWidths(root) {
    if (!root || !root.querySelectorAll) return;
    const elements = Array.from(root.querySelectorAll("[data-progress-percent]"));
    if (root.matches && root.matches("[data-progress-percent]")) elements.push(root);
    elements.forEach(function (el) {
      const percent = Math.max(0, Math.min(100, Number(el.dataset.progressPercent) || 0));
      el.style.width = percent + "%";
    });
  }

  applyWidths(document);
  // htmx:afterSwap comes right after the new content is in, before the browser
  // paints it (htmx:load waits for the settle delay: the bar would show empty
  // for a frame and then grow); htmx:load covers content added otherwise.
  document.addEventListener("htmx:afterSwap", function () { applyWidths(document); });
  document.addEventListener("htmx:load", function (event) { applyWidths(event.detail.elt); });

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
