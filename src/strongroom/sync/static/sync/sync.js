// "Sync with <provider> for Mobile Access": the dialog is sent with fetch so a refusal
// (weak passphrase, policy, reason) is shown where the user typed; on success the dialog
// closes and the notification area reports the upload when the worker finishes. Text is
// only ever set with textContent.
(function () {
  "use strict";

  const status = document.querySelector("[data-export-status]");

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
      const input = form.querySelector("[name='" + name + "']");
      const box = input ? input.closest(".field") : null;
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
    if (general && !placed) {
      addError(general, (error && error.message) || "The sync could not start. Try again.");
      general.hidden = false;
    }
  }

  for (const form of document.querySelectorAll("[data-sync-form]")) {
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
      if (submit) { submit.disabled = true; submit.textContent = submit.dataset.busyText || label; }
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { "X-Requested-With": "fetch" },
          credentials: "same-origin",
        });
        let body = null;
        try { body = await response.json(); } catch (_) { body = null; }
        if (!response.ok) {
          showErrors(form, (body && body.error) || { message: "The sync could not start (" + response.status + ")." });
          return;
        }
        const dialog = form.closest("dialog");
        if (dialog) dialog.close();
        if (status) {
          status.textContent = (body && body.message) || "Sync started.";
          status.classList.remove("error");
          status.hidden = false;
        }
      } catch (_) {
        showErrors(form, { message: "The server could not be reached. Try again." });
      } finally {
        if (submit) { submit.disabled = false; submit.textContent = label; }
        for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
      }
    });
  }
})();
