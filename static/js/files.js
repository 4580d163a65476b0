// The Files tab: drop files on the area or pick them; each is posted on its
// own with a progress bar, and the server says for each whether it went to
// quarantine or why not. The page reloads once every upload has finished.
(function () {
  "use strict";
  const form = document.querySelector("[data-file-drop]");
  if (!form) return;
  const input = form.querySelector("[data-file-input]");
  const list = document.querySelector("[data-upload-progress]");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let pending = 0;

  function send(file) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    const bar = document.createElement("progress");
    label.textContent = file.name + " ";
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    item.append(label, bar);
    list.append(item);
    const data = new FormData();
    data.append("files", file);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRFToken", token);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("loadend", function () {
      let message = "The upload failed.";
      let ok = false;
      try {
        const result = JSON.parse(request.responseText).results[0];
        message = result.message;
        ok = result.ok;
      } catch (error) { /* the message above */ }
      bar.value = 100;
      const note = document.createElement("div");
      note.className = ok ? "text-success" : "text-danger";
      note.textContent = message;
      item.append(note);
      pending -= 1;
      if (pending === 0 && Array.from(list.querySelectorAll(".text-success")).length) {
        setTimeout(function () { window.location.reload(); }, 800);
      }
    });
    pending += 1;
    request.send(data);
  }

  function sendAll(files) { Array.from(files).forEach(send); }

  input.addEventListener("change", function () { sendAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (name) {
    form.addEventListener(name, function (event) { event.preventDefault(); form.classList.add("file-drop-over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    form.addEventListener(name, function () { form.classList.remove("file-drop-over"); });
  });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    sendAll(event.dataTransfer.files);
  });
})();
