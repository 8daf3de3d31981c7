// One renderer for errors on a page form, shared by the Export menu's scripts (export.js,
// sync.js). Errors come in the API's one shape (web/errors.py, api/errors.py):
//   {code, message, details: {fields: [{field, problem}, ...]}}
// Each problem goes under the form field it names; the message, when no field took a
// problem, goes in the form's [data-form-error] list. Text is only ever set with textContent.
(function () {
  "use strict";

  function fieldBox(form, name) {
    const selector = "[name='" + (window.CSS && CSS.escape ? CSS.escape(name) : name) + "']";
    const input = form.querySelector(selector);
    return input ? input.closest(".field") || input.closest("fieldset") : null;
  }

  function addItem(list, text) {
    const item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
  }

  function clear(form) {
    for (const list of form.querySelectorAll("[data-field-error]")) list.remove();
    for (const box of form.querySelectorAll(".has-error")) box.classList.remove("has-error");
    const general = form.querySelector("[data-form-error]");
    if (general) { general.textContent = ""; general.hidden = true; }
  }

  // Service messages are lower-case clauses (the API's shape, as is); pages show sentences,
  // the way web/helpers.py sentence() does for server-rendered forms.
  function sentence(text) {
    const t = String(text).trim();
    if (!t) return t;
    const s = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.?!)]$/.test(s) ? s : s + ".";
  }

  // options.fallback: the message when the error has none; options.focus: move the focus to
  // the first field with a problem.
  function show(form, error, options) {
    const opts = options || {};
    clear(form);
    const details = (error && error.details) || {};
    const problems = Array.isArray(details.fields) ? details.fields : [];
    const lists = new Map();
    for (const entry of problems) {
      if (!entry || typeof entry.field !== "string") continue;
      const box = fieldBox(form, entry.field);
      if (!box) continue;
      let list = lists.get(box);
      if (!list) {
        box.classList.add("has-error");
        list = document.createElement("ul");
        list.className = "errorlist";
        list.setAttribute("data-field-error", "");
        box.appendChild(list);
        lists.set(box, list);
      }
      addItem(list, String(entry.problem));
    }
    const general = form.querySelector("[data-form-error]");
    if (general && !lists.size) {
      addItem(general, (error && error.message && sentence(error.message)) || opts.fallback || "That did not work. Try again.");
      general.hidden = false;
    }
    if (opts.focus) {
      const focus = form.querySelector(".has-error input, .has-error textarea, .has-error select");
      if (focus) focus.focus();
    }
  }

  // An error made in the page itself, in the same shape.
  function fieldError(field, problem) {
    return { details: { fields: [{ field: field, problem: problem }] } };
  }

  window.StrongroomFormErrors = Object.freeze({ clear: clear, show: show, fieldError: fieldError });
})();
