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

  // The buttons open and close their dialogs by themselves (commandfor/command, HTML invoker
  // commands), so they work before this script has loaded; on browsers without invoker
  // commands this script does it. Either way the first passphrase field gets the focus.
  const nativeCommands = "commandForElement" in HTMLButtonElement.prototype;

  function focusFirstSecret(dialog) {
    const first = dialog.querySelector("input[type=password]");
    if (first) first.focus();
  }

  for (const button of document.querySelectorAll("[data-open-dialog]")) {
    const dialog = dialogOf(button.dataset.openDialog);
    if (!dialog) continue;
    if (nativeCommands) {
      dialog.addEventListener("toggle", (event) => {
        if (event.newState === "open") focusFirstSecret(dialog);
      });
      continue;
    }
    button.addEventListener("click", () => {
      if (typeof dialog.showModal !== "function" || dialog.open) return;
      dialog.showModal();
      focusFirstSecret(dialog);
    });
  }
  for (const dialog of document.querySelectorAll("dialog")) {
    const form = dialog.querySelector("form");
    if (!nativeCommands) {
      for (const cancel of dialog.querySelectorAll("[data-close-dialog]")) {
        cancel.addEventListener("click", () => dialog.close());
      }
    }
    dialog.addEventListener("close", () => { if (form) clearSecrets(form); });
    if (dialog.hasAttribute("data-open-on-load") && typeof dialog.showModal === "function") {
      dialog.showModal();
    }
  }

  // ------------------------------------------------------------------ errors
  // web/form_errors.js (loaded first) renders them, as for the sync dialogs.
  const formErrors = window.StrongroomFormErrors;

  function showErrors(form, error) {
    formErrors.show(form, error, { fallback: "The export failed. Try again.", focus: true });
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
      formErrors.clear(form);
      const first = form.querySelector("input[name=passphrase]");
      const again = form.querySelector("input[name=passphrase_confirm]");
      if (first && again && first.value !== again.value) {
        showErrors(form, formErrors.fieldError("passphrase_confirm", "The two passphrases differ."));
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
  // Tests and slow devices alike: everything above is wired.
  document.body.dataset.exportJs = "ready";
})();
