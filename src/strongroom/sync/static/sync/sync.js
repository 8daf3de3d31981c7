// "Sync with <provider> for Mobile Access": the dialog is sent with fetch so a refusal
// (weak passphrase, policy, reason) is shown where the user typed; on success the dialog
// closes and the notification area reports the upload when the worker finishes. Text is
// only ever set with textContent.
(function () {
  "use strict";

  const status = document.querySelector("[data-export-status]");

  // web/form_errors.js (loaded first) renders errors, as for the export dialogs.
  const formErrors = window.StrongroomFormErrors;

  function showErrors(form, error) {
    formErrors.show(form, error, { fallback: "The sync could not start. Try again." });
  }

  for (const form of document.querySelectorAll("[data-sync-form]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      formErrors.clear(form);
      const first = form.querySelector("input[name=passphrase]");
      const again = form.querySelector("input[name=passphrase_confirm]");
      if (first && again && first.value !== again.value) {
        showErrors(form, formErrors.fieldError("passphrase_confirm", "The two passphrases differ."));
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
  document.body.dataset.syncJs = "ready";
})();
