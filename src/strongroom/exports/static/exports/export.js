// The Export menu: the encrypted-file dialog, the scope chooser, and downloads with fetch so
// that a refusal (weak passphrase, policy) is shown where the user typed, and the file is
// saved from the response. Data is only ever set with textContent.
(function () {
  "use strict";

  const status = document.querySelector("[data-export-status]");

  function showStatus(text, isError) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
    status.hidden = false;
  }

  // ------------------------------------------------------------------ scope chooser
  for (const scope of document.querySelectorAll("[data-scope]")) {
    const groups = scope.querySelector("[data-scope-groups]");
    const radios = scope.querySelectorAll("input[type=radio]");
    const sync = () => {
      const chosen = scope.querySelector("input[type=radio]:checked");
      if (groups) groups.hidden = !chosen || chosen.value !== "groups";
    };
    for (const radio of radios) radio.addEventListener("change", sync);
    sync();
  }

  // ------------------------------------------------------------------ dialog
  function dialogOf(id) {
    return document.getElementById(id);
  }

  function clearSecrets(form) {
    for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
  }

  for (const button of document.querySelectorAll("[data-open-dialog]")) {
    button.addEventListener("click", () => {
      const dialog = dialogOf(button.dataset.openDialog);
      if (!dialog || typeof dialog.showModal !== "function") return;
      dialog.showModal();
      const first = dialog.querySelector("input[type=password]");
      if (first) first.focus();
    });
  }
  for (const dialog of document.querySelectorAll("dialog")) {
    const form = dialog.querySelector("form");
    for (const cancel of dialog.querySelectorAll("[data-close-dialog]")) {
      cancel.addEventListener("click", () => dialog.close());
    }
    dialog.addEventListener("close", () => { if (form) clearSecrets(form); });
    if (dialog.hasAttribute("data-open-on-load") && typeof dialog.showModal === "function") {
      dialog.showModal();
    }
  }

  // ------------------------------------------------------------------ errors
  function fieldBox(form, name) {
    const input = form.querySelector("[name='" + name + "']");
    return input ? input.closest(".field") || input.closest("fieldset") : null;
  }

  function clearErrors(form) {
    for (const list of form.querySelectorAll("[data-field-error]")) list.remove();
    for (const box of form.querySelectorAll(".has-error")) box.classList.remove("has-error");
    const general = form.querySelector("[data-form-error]");
    if (general) { general.textContent = ""; general.hidden = true; }
  }

  function addError(list, text) {
    const item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
  }

  function showErrors(form, error) {
    clearErrors(form);
    const fields = (error && error.fields) || {};
    let placed = false;
    for (const name of Object.keys(fields)) {
      const box = fieldBox(form, name);
      if (!box) continue;
      box.classList.add("has-error");
      const list = document.createElement("ul");
      list.className = "errorlist";
      list.setAttribute("data-field-error", "");
      for (const text of fields[name]) addError(list, text);
      box.appendChild(list);
      placed = true;
    }
    const general = form.querySelector("[data-form-error]");
    if (general && (!placed || !Object.keys(fields).length)) {
      addError(general, (error && error.message) || "The export failed. Try again.");
      general.hidden = false;
    }
    const focus = form.querySelector(".has-error input, .has-error textarea, .has-error select");
    if (focus) focus.focus();
  }

  // ------------------------------------------------------------------ download
  function filenameOf(response) {
    const header = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(header);
    return match ? match[1] : "strongroom-export";
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  for (const form of document.querySelectorAll("[data-export-form]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const first = form.querySelector("input[name=passphrase]");
      const again = form.querySelector("input[name=passphrase_confirm]");
      if (first && again && first.value !== again.value) {
        showErrors(form, { fields: { passphrase_confirm: ["The two passphrases differ."] } });
        return;
      }
      const submit = form.querySelector("button[type=submit]");
      const label = submit ? submit.textContent : "";
      if (submit) {
        submit.disabled = true;
        if (submit.dataset.busyText) submit.textContent = submit.dataset.busyText;
      }
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { "X-Requested-With": "fetch" },
          credentials: "same-origin",
        });
        if (!response.ok) {
          let error = null;
          try { error = (await response.json()).error; } catch (_) { error = null; }
          showErrors(form, error || { message: "The export failed (" + response.status + ")." });
          return;
        }
        const blob = await response.blob();
        const name = filenameOf(response);
        save(blob, name);
        const count = response.headers.get("X-Strongroom-Entry-Count") || "0";
        const digest = response.headers.get("X-Strongroom-SHA256") || "";
        showStatus("Downloaded " + name + ": " + count + " entr" + (count === "1" ? "y" : "ies")
          + ". SHA-256 " + digest + ".", false);
        clearSecrets(form);
        const dialog = form.closest("dialog");
        if (dialog) dialog.close();
      } catch (_) {
        showErrors(form, { message: "The server could not be reached. Try again." });
      } finally {
        if (submit) { submit.disabled = false; submit.textContent = label; }
      }
    });
  }
})();
