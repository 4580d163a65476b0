// The Assign To dialog's list builder: pick a collector, "+" adds them with a
// number of accounts; the list travels as JSON in the hidden "assignments".
(function () {
  "use strict";
  if (window.assignBuilderBound) return;
  window.assignBuilderBound = true;

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "bulk-dialog") renderAssignments(event.detail.target);
  });

  function builder(el) { return el.closest("[data-assign-builder]"); }

  function readList(root) {
    const field = root.querySelector("[data-assignments]");
    try { return JSON.parse(field.value || "[]"); } catch (e) { return []; }
  }

  function writeList(root, list) {
    root.querySelector("[data-assignments]").value = list.length ? JSON.stringify(list) : "";
    renderAssignments(root);
  }

  function renderAssignments(scope) {
    const root = scope.matches && scope.matches("[data-assign-builder]") ? scope : scope.querySelector("[data-assign-builder]");
    if (!root) return;
    const rows = root.querySelector("[data-assign-rows]");
    rows.replaceChildren();
    let total = 0;
    readList(root).forEach(function (entry, index) {
      total += Number(entry.count) || 0;
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      name.textContent = entry.name;
      const count = document.createElement("td");
      count.className = "money";
      count.textContent = entry.count;
      const remove = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-link btn-sm p-0";
      button.textContent = "Remove";
      button.setAttribute("aria-label", "Remove " + entry.name);
      button.dataset.assignRemove = index;
      remove.appendChild(button);
      tr.append(name, count, remove);
      rows.appendChild(tr);
    });
    root.querySelector("[data-assign-total]").textContent = total;
  }

  document.addEventListener("click", function (event) {
    const add = event.target.closest("[data-assign-add]");
    if (add) {
      const root = builder(add);
      const input = root.querySelector("#assign-collector");
      const countInput = root.querySelector("#assign-count");
      const error = root.querySelector("[data-assign-error]");
      const option = Array.from(root.querySelectorAll("#assign-collectors option"))
        .find(function (o) { return o.value === input.value; });
      const count = parseInt(countInput.value, 10);
      error.textContent = "";
      if (!option) { error.textContent = "Pick a collector from the list, or Unassign."; return; }
      if (!(count > 0)) { error.textContent = "The number of accounts must be at least 1."; return; }
      const list = readList(root).filter(function (e) { return e.collector !== option.dataset.id; });
      list.push({ collector: option.dataset.id, name: option.value, count: count });
      writeList(root, list);
      input.value = "";
      return;
    }
    const remove = event.target.closest("[data-assign-remove]");
    if (remove) {
      const root = builder(remove);
      const list = readList(root);
      list.splice(Number(remove.dataset.assignRemove), 1);
      writeList(root, list);
    }
  });
})();
