// The list builder's fields (seed 003): "Available Fields to Show" and "Show
// Fields on List". Ticking a field's box moves it to the end of the list
// shown, unticking it back among the available ones; a shown field is
// dragged by its dotted handle (an available one can be dragged in, to its
// place) or moved with its Earlier / Later buttons, as on the account
// page's Edit Layout (layout.js). The boxes stay the form's inputs: every
// ticked one is in "Show Fields on List", so they post in its order, which
// is the order of the grid's columns. Without this script the form draws the
// shown fields first, in order, and the boxes post as they stand.
(function () {
  "use strict";
  const root = document.querySelector("[data-list-fields]");
  if (!root) return;
  const shown = root.querySelector("[data-fields-shown]");
  const available = root.querySelector("[data-fields-available]");
  const empty = root.querySelector("[data-fields-empty]");
  const status = root.querySelector("[data-fields-status]");
  let dragged = null;

  function items(list) {
    return Array.from(list.children).filter(function (li) { return li.matches("[data-field]"); });
  }
  function box(item) { return item.querySelector("input[type=checkbox]"); }
  function isShown(item) { return item.parentElement === shown; }

  function announce(text) {
    // A new text node, so the same words said twice are said again.
    status.textContent = "";
    status.appendChild(document.createTextNode(text));
  }

  function position(item) {
    return item.dataset.label + ": " + (items(shown).indexOf(item) + 1) +
      " of " + items(shown).length + " on the list.";
  }

  // The available fields stay in the catalogue's order.
  function sortAvailable() {
    const focused = document.activeElement;
    items(available)
      .sort(function (a, b) { return Number(a.dataset.order) - Number(b.dataset.order); })
      .forEach(function (item) { available.appendChild(item); });
    if (focused && root.contains(focused) && document.activeElement !== focused) focused.focus();
  }

  // Each box ticked as its list says; the moves only where they mean something.
  function refresh() {
    items(shown).forEach(function (item) {
      box(item).checked = true;
      item.querySelector("[data-field-moves]").hidden = false;
    });
    items(available).forEach(function (item) {
      box(item).checked = false;
      item.querySelector("[data-field-moves]").hidden = true;
    });
    empty.hidden = items(shown).length > 0;
  }

  // Moving a node takes the focus from what it holds: give it back.
  function keepFocus(element, move) {
    move();
    element.focus();
  }

  root.addEventListener("change", function (event) {
    const input = event.target.closest("input[type=checkbox]");
    if (!input) return;
    const item = input.closest("[data-field]");
    if (input.checked && !isShown(item)) {
      keepFocus(input, function () { shown.appendChild(item); });
      refresh();
      announce("Added. " + position(item));
    } else if (!input.checked && isShown(item)) {
      keepFocus(input, function () { available.appendChild(item); sortAvailable(); });
      refresh();
      announce(item.dataset.label + " removed from the list.");
    }
  });

  root.addEventListener("click", function (event) {
    const move = event.target.closest("[data-field-move]");
    if (!move) return;
    const item = move.closest("[data-field]");
    if (!isShown(item)) return;
    if (move.dataset.fieldMove === "-1" && item.previousElementSibling) {
      keepFocus(move, function () { shown.insertBefore(item, item.previousElementSibling); });
    } else if (move.dataset.fieldMove === "1" && item.nextElementSibling) {
      keepFocus(move, function () { shown.insertBefore(item.nextElementSibling, item); });
    }
    announce(position(item));
  });

  root.addEventListener("dragstart", function (event) {
    const handle = event.target.closest && event.target.closest(".field-handle");
    if (!handle) return;
    dragged = handle.closest("[data-field]");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.field);
    dragged.classList.add("field-dragging");
  });

  root.addEventListener("dragover", function (event) {
    if (!dragged) return;
    const list = event.target.closest && event.target.closest("[data-fields-shown], [data-fields-available]");
    if (!list) return;
    event.preventDefault();
    if (list === available) {
      // Back among the available fields: its place there is the catalogue's.
      if (dragged.parentElement !== available) available.appendChild(dragged);
      return;
    }
    const over = event.target.closest("[data-field]");
    if (!over || over === dragged) {
      if (!over && dragged.parentElement !== shown) shown.appendChild(dragged);
      return;
    }
    const rect = over.getBoundingClientRect();
    const after = event.clientY > rect.top + rect.height / 2;
    shown.insertBefore(dragged, after ? over.nextElementSibling : over);
  });

  root.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });

  root.addEventListener("dragend", function () {
    if (!dragged) return;
    const item = dragged;
    dragged = null;
    item.classList.remove("field-dragging");
    sortAvailable();
    refresh();
    announce(isShown(item) ? position(item) : item.dataset.label + " removed from the list.");
  });

  // Enhance: the seed's order on the page ("Available Fields to Show", then
  // "Show Fields on List"), the handles and the moves.
  const shownColumn = root.querySelector("[data-fields-shown-column]");
  const availableColumn = root.querySelector("[data-fields-available-column]");
  shownColumn.parentElement.insertBefore(availableColumn, shownColumn);
  root.querySelectorAll(".field-handle, [data-fields-js-help]").forEach(function (element) {
    element.hidden = false;
  });
  refresh();
})();
