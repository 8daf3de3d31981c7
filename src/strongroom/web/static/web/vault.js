// Strongroom vault pages: secrets masked until asked for (retrieval is a POST with the CSRF
// token, audited by the server), copy with auto-clear, TOTP codes, the reason dialog, the
// password generator, the custom-fields editor and self-submitting filters.
//
// Loaded as a static file (the CSP allows no inline script). Secrets only ever enter the
// page through textContent or an input's value, never as markup, and are dropped from the
// page when masked again.
"use strict";
(() => {
  const CLIPBOARD_CLEAR_MS = 30000;
  const REVEAL_MS = 60000;
  const STATUS_MS = 6000;

  // ------------------------------------------------------------------ helpers

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function capitalise(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  let statusTimer = 0;
  function announce(message, kind) {
    const box = document.querySelector("[data-vault-status]");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("error", kind === "error");
    box.hidden = false;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { box.hidden = true; }, STATUS_MS);
  }

  // ------------------------------------------------------------------ clipboard

  function legacyCopy(text) {
    // Plain-HTTP deployments have no navigator.clipboard (it needs a secure context).
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  async function clipboardWrite(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (err) {
        // Denied or the document lost focus: try the older way below.
      }
    }
    return legacyCopy(text);
  }

  async function clipboardStillHolds(text) {
    // Only read the clipboard where that permission is already granted: asking for it
    // would open a browser prompt just to clean up.
    try {
      const state = await navigator.permissions.query({ name: "clipboard-read" });
      if (state.state !== "granted") return true;
      return (await navigator.clipboard.readText()) === text;
    } catch (err) {
      return true;
    }
  }

  let clearTimer = 0;
  async function copySecret(text, label) {
    if (!(await clipboardWrite(text))) {
      announce("This browser did not allow copying. Use Show and copy it by hand.", "error");
      return;
    }
    announce(label + " copied. The clipboard is cleared in 30 seconds.");
    clearTimeout(clearTimer);
    clearTimer = setTimeout(async () => {
      if (!(await clipboardStillHolds(text))) return; // something else was copied since
      if (navigator.clipboard && window.isSecureContext) {
        try {
          await navigator.clipboard.writeText("");
          return;
        } catch (err) {
          // Not focused: fall through.
        }
      }
      legacyCopy(" ");
    }, CLIPBOARD_CLEAR_MS);
  }

  // ------------------------------------------------------------------ reason dialog

  function reasonDialog() {
    return document.querySelector("[data-reason-dialog]");
  }

  function askReason(what, errorMessage) {
    const dialog = reasonDialog();
    if (!dialog || typeof dialog.showModal !== "function") {
      announce("This browser cannot show the reason form; update it to retrieve secrets.", "error");
      return Promise.resolve(null);
    }
    const form = dialog.querySelector("form");
    const input = dialog.querySelector("textarea");
    const cancel = dialog.querySelector("[data-reason-cancel]");
    const errors = dialog.querySelector("[data-reason-error]");
    dialog.querySelector("[data-reason-what]").textContent = what ? "To see the " + what + "." : "";
    errors.replaceChildren();
    errors.hidden = !errorMessage;
    if (errorMessage) {
      const item = document.createElement("li");
      item.textContent = capitalise(errorMessage);
      errors.append(item);
    }
    return new Promise((resolve) => {
      function finish(value) {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        resolve(value);
      }
      function onSubmit(event) {
        event.preventDefault();
        if (!input.value.trim()) {
          input.focus();
          return;
        }
        finish(input.value);
      }
      function onCancel(event) {
        if (event) event.preventDefault();
        finish(null);
      }
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel); // Escape
      dialog.showModal();
      input.focus();
      input.select();
    });
  }

  // ------------------------------------------------------------------ secrets

  async function fetchSecret(box) {
    const what = box.dataset.what || "secret";
    const dialog = reasonDialog();
    let mustAsk = Boolean(dialog && dialog.dataset.required === "true");
    let problem = null;
    let reason = "";
    for (let attempt = 0; attempt < 5; attempt += 1) {
      if (mustAsk) {
        const given = await askReason(what, problem);
        if (given === null) return null;
        reason = given;
      }
      let response;
      try {
        response = await fetch(box.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          cache: "no-store",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRFToken": csrfToken(),
          },
          body: JSON.stringify({ reason: reason }),
        });
      } catch (err) {
        announce("The server could not be reached. Check the connection and try again.", "error");
        return null;
      }
      let body = null;
      try {
        body = await response.json();
      } catch (err) {
        body = null;
      }
      if (response.ok && body) return body;
      if (response.ok || response.redirected) {
        // Not the JSON answer (a sign-in or password-change page in its place).
        announce("The server asked for something else first. Reload the page and try again.", "error");
        return null;
      }
      const error = body && body.error ? body.error : null;
      if (error && error.details && error.details.field === "reason") {
        // A reason became mandatory, or the one given was refused: ask (again).
        mustAsk = true;
        problem = error.message;
        continue;
      }
      if (response.status === 401) {
        announce("Your session has ended. Sign in again.", "error");
      } else if (response.status === 403 && !error) {
        announce("This page has expired. Reload it and try again.", "error");
      } else {
        announce(error ? capitalise(error.message) : "The server answered " + response.status + ".", "error");
      }
      return null;
    }
    return null;
  }

  const maskers = [];

  function initSecretBox(box) {
    const valueEl = box.querySelector("[data-secret-value]");
    const showButton = box.querySelector("[data-secret-show]");
    const copyButton = box.querySelector("[data-secret-copy]");
    const remainingEl = box.querySelector("[data-totp-remaining]");
    const isTotp = box.dataset.kind === "totp";
    const placeholder = valueEl.textContent;
    const showLabel = showButton.textContent;
    let shown = null;
    let hideTimer = 0;
    let countdown = 0;

    function mask() {
      shown = null;
      valueEl.textContent = placeholder;
      valueEl.classList.add("masked");
      showButton.textContent = showLabel;
      showButton.setAttribute("aria-pressed", "false");
      if (remainingEl) remainingEl.textContent = "";
      clearTimeout(hideTimer);
      clearInterval(countdown);
    }
    maskers.push(mask);

    function reveal(text, ms) {
      shown = text;
      valueEl.textContent = text === "" ? "(empty)" : text;
      valueEl.classList.remove("masked");
      showButton.textContent = "Hide";
      showButton.setAttribute("aria-pressed", "true");
      clearTimeout(hideTimer);
      hideTimer = setTimeout(mask, ms);
    }

    function startCountdown(seconds) {
      if (!remainingEl) return;
      let left = seconds;
      remainingEl.textContent = left + " s";
      clearInterval(countdown);
      countdown = setInterval(() => {
        left -= 1;
        if (left <= 0) mask();
        else remainingEl.textContent = left + " s";
      }, 1000);
    }

    async function retrieve() {
      const body = await fetchSecret(box);
      if (!body) return null;
      if (isTotp) {
        return { text: String(body.code), ms: body.remaining_seconds * 1000, left: body.remaining_seconds };
      }
      return { text: String(body.password), ms: REVEAL_MS, left: 0 };
    }

    async function busy(button, work) {
      button.disabled = true;
      try {
        await work();
      } finally {
        button.disabled = false;
      }
    }

    showButton.addEventListener("click", () => {
      if (shown !== null) {
        mask();
        return;
      }
      busy(showButton, async () => {
        const got = await retrieve();
        if (!got) return;
        reveal(got.text, got.ms);
        if (isTotp) startCountdown(got.left);
      });
    });

    copyButton.addEventListener("click", () => {
      busy(copyButton, async () => {
        let text = shown;
        if (text === null) {
          const got = await retrieve();
          if (!got) return;
          text = got.text;
        }
        await copySecret(text, isTotp ? "Code" : "Password");
      });
    });
  }

  // ------------------------------------------------------------------ generator

  const CHARACTER_CLASSES = {
    lower: "abcdefghijklmnopqrstuvwxyz",
    upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    digits: "0123456789",
    symbols: "!#$%&()*+,-./:;<=>?@[]^_{|}~",
  };
  const LOOK_ALIKES = /[Il1O0o|]/g;

  function randomBelow(n) {
    // Rejection sampling: no modulo bias.
    const limit = Math.floor(0x100000000 / n) * n;
    const word = new Uint32Array(1);
    for (;;) {
      crypto.getRandomValues(word);
      if (word[0] < limit) return word[0] % n;
    }
  }

  function generatePassword(length, classes, unambiguous) {
    const sets = classes
      .map((name) => (unambiguous ? CHARACTER_CLASSES[name].replace(LOOK_ALIKES, "") : CHARACTER_CLASSES[name]))
      .filter((set) => set.length > 0);
    const alphabet = sets.join("");
    const chars = sets.map((set) => set[randomBelow(set.length)]); // at least one of each
    while (chars.length < length) chars.push(alphabet[randomBelow(alphabet.length)]);
    for (let i = chars.length - 1; i > 0; i -= 1) {
      const j = randomBelow(i + 1);
      [chars[i], chars[j]] = [chars[j], chars[i]];
    }
    return { password: chars.join(""), bits: Math.floor(length * Math.log2(alphabet.length)) };
  }

  function setPasswordVisible(input, visible) {
    input.type = visible ? "text" : "password";
    const toggle = document.querySelector('[data-toggle-password="' + input.id + '"]');
    if (toggle) {
      toggle.textContent = visible ? "Hide" : "Show";
      toggle.setAttribute("aria-pressed", String(visible));
    }
  }

  function initGenerator(box) {
    const input = document.getElementById(box.dataset.generator);
    if (!input || !window.crypto || !crypto.getRandomValues) return;
    box.hidden = false;
    const lengthInput = box.querySelector("[data-gen-length]");
    const lengthOut = box.querySelector("[data-gen-length-out]");
    const strength = box.querySelector("[data-gen-strength]");
    const classBoxes = Array.from(box.querySelectorAll("[data-gen-class]"));
    const unambiguous = box.querySelector("[data-gen-unambiguous]");
    let generated = false;

    function run() {
      let classes = classBoxes.filter((c) => c.checked).map((c) => c.dataset.genClass);
      if (classes.length === 0) {
        classBoxes[0].checked = true;
        classes = [classBoxes[0].dataset.genClass];
      }
      const length = Number(lengthInput.value);
      const result = generatePassword(length, classes, unambiguous.checked);
      input.value = result.password;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      setPasswordVisible(input, true);
      strength.textContent = length + " characters, about " + result.bits + " bits of entropy";
      generated = true;
    }

    lengthOut.textContent = lengthInput.value;
    lengthInput.addEventListener("input", () => {
      lengthOut.textContent = lengthInput.value;
      if (generated) run();
    });
    for (const option of [...classBoxes, unambiguous]) {
      option.addEventListener("change", () => { if (generated) run(); });
    }
    box.querySelector("[data-generate]").addEventListener("click", run);
    input.addEventListener("input", (event) => {
      if (event.isTrusted) {
        generated = false;
        strength.textContent = "";
      }
    });
  }

  function initPasswordToggle(button) {
    const input = document.getElementById(button.dataset.togglePassword);
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", () => setPasswordVisible(input, input.type === "password"));
  }

  // ------------------------------------------------------------------ custom fields

  function initCustomFields(fieldset) {
    const rows = fieldset.querySelector("[data-cf-rows]");
    const template = fieldset.querySelector("[data-cf-template]");
    const add = fieldset.querySelector("[data-cf-add]");
    function addRow() {
      const row = template.content.firstElementChild.cloneNode(true);
      rows.append(row);
      return row;
    }
    add.hidden = false;
    add.addEventListener("click", () => addRow().querySelector("input").focus());
    rows.addEventListener("click", (event) => {
      const button = event.target.closest("[data-cf-remove]");
      if (!button) return;
      button.closest(".cf-row").remove();
      if (!rows.querySelector(".cf-row")) addRow();
    });
  }

  // ------------------------------------------------------------------ bulk selection

  // The action bar is a plain form: without this script the boxes are ticked one by one
  // and the buttons post. The script adds "select all on this page" and the count.
  function initBulk(form) {
    const boxes = Array.from(form.querySelectorAll('input[type=checkbox][name="resource"]'));
    const all = form.querySelector("[data-select-all]");
    const label = form.querySelector("[data-select-all-label]");
    const count = form.querySelector("[data-bulk-count]");
    function update() {
      const n = boxes.filter((b) => b.checked).length;
      if (all) {
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
      if (count) count.textContent = n ? n + " selected:" : "Tick resources, then:";
      form.classList.toggle("has-selection", n > 0);
    }
    if (all && label) {
      label.hidden = false;
      all.addEventListener("change", () => {
        boxes.forEach((b) => { b.checked = all.checked; });
        update();
      });
    }
    boxes.forEach((b) => b.addEventListener("change", update));
    form.classList.add("js");
    update();
  }

  // ------------------------------------------------------------------ start

  function init() {
    document.querySelectorAll("[data-secret]").forEach(initSecretBox);
    document.querySelectorAll("[data-generator]").forEach(initGenerator);
    document.querySelectorAll("[data-toggle-password]").forEach(initPasswordToggle);
    document.querySelectorAll("[data-custom-fields]").forEach(initCustomFields);
    document.querySelectorAll("form[data-bulk]").forEach(initBulk);
    document.querySelectorAll("[data-copy-text]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (await clipboardWrite(button.dataset.copyText)) announce("Username copied.");
        else announce("This browser did not allow copying.", "error");
      });
    });
    document.querySelectorAll("[data-filters]").forEach((form) => {
      // Phones show the search box and fold the other filters behind a button.
      form.classList.add("js");
      const toggle = form.querySelector("[data-filter-toggle]");
      if (!toggle) return;
      toggle.hidden = false;
      toggle.setAttribute("aria-expanded", String(form.classList.contains("open")));
      toggle.addEventListener("click", () => {
        toggle.setAttribute("aria-expanded", String(form.classList.toggle("open")));
      });
    });
    document.querySelectorAll("form[data-autosubmit]").forEach((form) => {
      form.querySelectorAll("[data-autosubmit-button]").forEach((b) => { b.hidden = true; });
      form.querySelectorAll("select").forEach((select) => {
        select.addEventListener("change", () => form.requestSubmit());
      });
    });
    // Nothing revealed stays on screen when the tab is hidden or the laptop sleeps.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") maskers.forEach((mask) => mask());
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
