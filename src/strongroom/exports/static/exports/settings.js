// Admin → Export / Offline Access: show only the chooser for the rule's kind of subject.
(function () {
  "use strict";
  const form = document.querySelector("[data-rule-form]");
  if (!form) return;
  const kind = form.querySelector("select[name=subject_type]");
  function sync() {
    for (const box of form.querySelectorAll("[data-subject]")) {
      box.hidden = box.dataset.subject !== kind.value;
    }
  }
  kind.addEventListener("change", sync);
  sync();
})();
