// Accounts grid: row checkboxes, select all, page size. Selection changes are
// POSTed one at a time (a promise chain) so fast clicks are never lost.
(function () {
  "use strict";
  // Bind once, even if this script runs again.
  if (window.accountsGridBound) return;
  window.accountsGridBound = true;
  // The selection lives on the server and the filters in the URL: on Back and
  // Forward load the page afresh instead of showing htmx's snapshot (whose
  // counter and filter form would be stale).
  htmx.config.historyCacheSize = 0;
  htmx.config.refreshOnHistoryMiss = true;
  let pending = Promise.resolve();

  function root() { return document.querySelector("[data-grid]"); }

  function post(values, target, swap, source) {
    const grid = root();
    if (!grid) return;
    values.state = grid.dataset.state;
    pending = pending.then(() =>
      htmx.ajax("POST", grid.dataset.selectionUrl, { source: source, target: target, swap: swap, values: values })
    ).catch(() => {});
  }

  document.addEventListener("change", function (event) {
    const el = event.target;
    if (el.matches(".row-select")) {
      post({ op: "toggle", id: el.value, checked: el.checked ? "1" : "" }, "#selection-bar", "outerHTML", el);
    } else if (el.id === "select-all") {
      post({ op: el.checked ? "all" : "none" }, "#grid", "innerHTML", el);
    } else if (el.matches("[data-page-size]")) {
      const params = new URLSearchParams(root().dataset.state);
      params.set("per_page", el.value);
      params.delete("page");
      htmx.ajax("GET", "?" + params.toString(), { source: el, target: "#grid", swap: "innerHTML" }).then(() => {
        // {htmx: true} on both entries, or htmx ignores Back between them.
        history.replaceState({ htmx: true }, "", location.href);
        history.pushState({ htmx: true }, "", "?" + params.toString());
      });
      const hidden = document.querySelector("#filters input[name=per_page]");
      if (hidden) hidden.value = el.value;
    }
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-selection-op]");
    if (button) post({ op: button.dataset.selectionOp }, "#grid", "innerHTML", button);
  });
})();
