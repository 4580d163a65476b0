// Edit Layout on the account page (seed 004): drag a widget by its dotted
// bar (or use Earlier / Later), pick its Width, Remove it; Undo steps back
// one change; Save posts the layout (the server checks every part of it);
// Cancel Changes reloads the page as saved. Add widget posts the layout as
// edited so far, with the new widget.
(function () {
  "use strict";
  const grid = document.querySelector("[data-widgets]");
  const editButton = document.querySelector("[data-layout-edit]");
  if (!grid || !editButton) return;
  const controls = document.querySelector("[data-layout-controls]");
  const undoButton = document.querySelector("[data-layout-undo]");
  const history = [];
  let dragged = null;

  function widgets() { return Array.from(grid.querySelectorAll(".widget")); }

  function layout() {
    return widgets().map(function (w) {
      const width = parseInt(w.dataset.width, 10);
      if (w.dataset.label !== undefined) {
        const fields = (w.dataset.fields || "").split(",").filter(Boolean).map(Number);
        return { label: w.dataset.label, fields: fields, width: width };
      }
      return { key: w.dataset.key, width: width };
    });
  }

  function snapshot() { return widgets().map(function (w) { return [w, w.dataset.width]; }); }

  function remember() {
    history.push(snapshot());
    undoButton.disabled = false;
  }

  function setWidth(w, width) {
    w.className = w.className.replace(/\bcol-lg-\d+\b/, "col-lg-" + width);
    w.dataset.width = String(width);
    const select = w.querySelector("[data-widget-width]");
    if (select) select.value = String(width);
  }

  function restore(state) {
    widgets().forEach(function (w) { w.remove(); });
    state.forEach(function (pair) { grid.appendChild(pair[0]); setWidth(pair[0], pair[1]); });
  }

  function sync() {
    const json = JSON.stringify(layout());
    document.querySelectorAll("[data-layout-form] input[name=layout]").forEach(function (input) {
      input.value = json;
    });
  }

  editButton.addEventListener("click", function () {
    controls.hidden = false;
    editButton.hidden = true;
    document.body.classList.add("layout-editing");
    grid.querySelectorAll(".widget-bar").forEach(function (bar) { bar.hidden = false; });
  });

  undoButton.addEventListener("click", function () {
    const state = history.pop();
    if (state) restore(state);
    undoButton.disabled = history.length === 0;
    sync();
  });

  grid.addEventListener("change", function (event) {
    const select = event.target.closest("[data-widget-width]");
    if (!select) return;
    const w = select.closest(".widget");
    const previous = w.dataset.width;
    setWidth(w, previous);  // the snapshot keeps the width before the change
    remember();
    setWidth(w, select.value);
    sync();
  });

  grid.addEventListener("click", function (event) {
    const move = event.target.closest("[data-widget-move]");
    const remove = event.target.closest("[data-widget-remove]");
    if (!move && !remove) return;
    const w = event.target.closest(".widget");
    remember();
    if (remove) {
      w.remove();
    } else if (move.dataset.widgetMove === "-1" && w.previousElementSibling) {
      grid.insertBefore(w, w.previousElementSibling);
      move.focus();
    } else if (move.dataset.widgetMove === "1" && w.nextElementSibling) {
      grid.insertBefore(w.nextElementSibling, w);
      move.focus();
    }
    sync();
  });

  grid.addEventListener("dragstart", function (event) {
    const handle = event.target.closest && event.target.closest(".widget-handle");
    if (!handle) return;
    dragged = handle.closest(".widget");
    remember();
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.key);
    dragged.classList.add("widget-dragging");
  });

  grid.addEventListener("dragover", function (event) {
    if (!dragged) return;
    event.preventDefault();
    const over = event.target.closest(".widget");
    if (!over || over === dragged) return;
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2 ||
      (Math.abs(event.clientY - (box.top + box.height / 2)) < box.height / 4 &&
       event.clientX > box.left + box.width / 2);
    grid.insertBefore(dragged, after ? over.nextElementSibling : over);
  });

  grid.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });

  grid.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("widget-dragging");
    dragged = null;
    sync();
  });

  sync();
})();
