// Strongroom web UI behaviour. Loaded as a static file: the CSP allows no inline script.
// Data comes from data-* attributes; text from the server is set with textContent only.
"use strict";

(() => {
  const POLL_MS = 5000;

  function initMenu() {
    const toggle = document.querySelector(".menu-toggle");
    const panel = document.getElementById("menu-panel");
    if (!toggle || !panel) return;
    toggle.addEventListener("click", () => {
      const open = panel.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // <button data-copy="#element-id">: copies that element's text.
  function initCopyButtons() {
    for (const button of document.querySelectorAll("button[data-copy]")) {
      button.addEventListener("click", async () => {
        const source = document.querySelector(button.dataset.copy);
        if (!source) return;
        const items = source.querySelectorAll("li");
        const text = items.length
          ? Array.from(items, (li) => li.textContent.trim()).join("\n")
          : source.textContent.trim();
        const label = button.textContent;
        try {
          await navigator.clipboard.writeText(text);
          button.textContent = "Copied";
        } catch (_error) {
          // No clipboard access (plain http, or denied): select the text for Ctrl+C instead.
          const range = document.createRange();
          range.selectNodeContents(source);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          button.textContent = "Selected: press Ctrl+C";
        }
        setTimeout(() => { button.textContent = label; }, 2500);
      });
    }
  }

  // On a narrow screen the tab row scrolls sideways: bring the current tab into view.
  function initTabs() {
    for (const tabs of document.querySelectorAll(".tabs")) {
      const current = tabs.querySelector("[aria-current='page']");
      if (!current || tabs.scrollWidth <= tabs.clientWidth) continue;
      // .tabs is position: relative, so offsetLeft is measured from the row itself.
      tabs.scrollLeft = current.offsetLeft - (tabs.clientWidth - current.offsetWidth) / 2;
    }
  }

  // Close an open confirmation panel when clicking elsewhere or pressing Escape.
  function initConfirmPanels() {
    document.addEventListener("click", (event) => {
      for (const details of document.querySelectorAll("details.confirm[open]")) {
        if (!details.contains(event.target)) details.removeAttribute("open");
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      for (const details of document.querySelectorAll("details.confirm[open]")) {
        details.removeAttribute("open");
      }
    });
  }

  function isLocalPath(link) {
    return typeof link === "string" && link.startsWith("/") && !link.startsWith("//")
      && !link.startsWith("/\\");
  }

  // Notifications (docs/web-ui.md, "Notifications"): success and info toasts fade after
  // data-fade-ms and stay unread in the bell; warnings and errors stay until dismissed. On a
  // phone at most one toast is shown at a time (the rest wait in the bell). A toast never
  // covers a button of the page: the area moves to the top, and if it would cover a
  // button there too, it tucks away until the page scrolls.
  const PHONE = "(max-width: 640px)";
  const FADED_KEY = "strongroom.toasts.faded";
  const ACTIONS = "main .btn, main button, main input[type=submit]";

  function fadedIds() {
    try {
      return new Set(JSON.parse(sessionStorage.getItem(FADED_KEY) || "[]"));
    } catch (_error) {
      return new Set();
    }
  }

  function rememberFaded(id) {
    const ids = [...fadedIds(), id].slice(-200);
    try { sessionStorage.setItem(FADED_KEY, JSON.stringify(ids)); } catch (_error) { /* private mode */ }
  }

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  function initNotifications() {
    const area = document.getElementById("notifications");
    if (!area) return;
    const feedUrl = area.dataset.feedUrl;
    const listUrl = area.dataset.listUrl;
    const readUrl = area.dataset.readUrl;
    const csrf = area.dataset.csrf;
    const fadeMs = Math.max(0, Number(area.dataset.fadeMs) || 6000);
    const phone = window.matchMedia(PHONE);
    const canHover = window.matchMedia("(hover: hover) and (pointer: fine)");
    const zero = "00000000-0000-0000-0000-000000000000";
    const counter = document.querySelector("[data-unread-count]");
    const toasts = new Map();
    let more = null;
    let timer = null;
    let busy = false;
    let placing = 0;

    function setCount(unread) {
      if (!counter) return;
      counter.textContent = unread > 99 ? "99+" : String(unread);
      counter.hidden = unread === 0;
    }

    // Whether a shown toast overlaps a button of the page that is on screen.
    function coversAction() {
      const boxes = [...area.children].map((el) => el.getBoundingClientRect())
        .filter((r) => r.width > 0 && r.height > 0);
      if (!boxes.length) return false;
      for (const el of document.querySelectorAll(ACTIONS)) {
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height || r.bottom <= 0 || r.top >= window.innerHeight) continue;
        if (boxes.some((box) => overlaps(box, r))) return true;
      }
      return false;
    }

    function place() {
      placing = 0;
      const bar = document.querySelector(".topbar");
      const top = bar ? Math.max(0, bar.getBoundingClientRect().bottom) : 0;
      area.style.setProperty("--toast-top", (top + 8) + "px");
      area.classList.remove("at-top", "tucked");
      if (!coversAction()) return;
      area.classList.add("at-top");
      if (!coversAction()) return;
      area.classList.remove("at-top");
      area.classList.add("tucked");
    }

    function placeSoon() {
      if (!placing) placing = window.requestAnimationFrame(place);
    }

    function drop(id) {
      const toast = toasts.get(id);
      if (toast) { toast.remove(); toasts.delete(id); }
    }

    async function dismiss(id) {
      drop(id);
      placeSoon();
      try {
        const response = await fetch(readUrl.replace(zero, encodeURIComponent(id)), {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
        });
        if (response.ok) {
          const data = await response.json();
          setCount(data.unread);
        }
      } catch (_error) {
        // Offline for a moment: the notification comes back on the next poll.
      }
      poll();
    }

    // A faded toast stays unread (the bell and the notification list have it) and does not
    // pop up again in this tab.
    function fadeLater(toast, id) {
      window.setTimeout(function fade() {
        // Taken off screen meanwhile (dismissed, or a phone showed another): not faded.
        if (toasts.get(id) !== toast) return;
        // Kept while being read with a mouse or used from the keyboard (a touch screen's
        // :hover sticks where the last tap was, so it does not count).
        if (toast.matches(":focus-within") || (canHover.matches && toast.matches(":hover"))) {
          window.setTimeout(fade, 1000);
          return;
        }
        rememberFaded(id);
        drop(id);
        placeSoon();
        poll();
      }, fadeMs);
    }

    function makeToast(item) {
      const toast = document.createElement("div");
      const level = ["info", "success", "warning", "error"].includes(item.level) ? item.level : "info";
      toast.className = "toast toast-" + level;
      toast.setAttribute("role", level === "error" ? "alert" : "status");
      toast.dataset.id = item.id;
      const title = document.createElement("p");
      title.className = "toast-title";
      title.textContent = item.title;
      const close = document.createElement("button");
      close.type = "button";
      close.className = "toast-close";
      close.setAttribute("aria-label", "Dismiss");
      close.textContent = "×";
      close.addEventListener("click", () => dismiss(item.id));
      toast.append(title, close);
      if (item.body) {
        const body = document.createElement("p");
        body.className = "toast-body";
        body.textContent = item.body;
        toast.append(body);
      }
      if (isLocalPath(item.link)) {
        const link = document.createElement("a");
        link.className = "toast-link";
        link.href = item.link;
        link.textContent = "Open";
        toast.append(link);
      }
      if (level === "success" || level === "info") fadeLater(toast, item.id);
      return toast;
    }

    function render(data) {
      const faded = fadedIds();
      const waiting = data.items.filter((item) => !faded.has(item.id));
      // Newest first. A phone shows one: the newest warning or error, else the newest;
      // the others wait in the bell (and come back when it is dismissed or has faded).
      let shown = waiting;
      if (phone.matches) {
        const urgent = waiting.find((item) => item.level === "error" || item.level === "warning");
        const pick = urgent || waiting[0];
        shown = pick ? [pick] : [];
      }
      const ids = new Set(shown.map((item) => item.id));
      for (const id of [...toasts.keys()]) {
        if (!ids.has(id)) drop(id);
      }
      // Oldest first, so the newest ends up nearest the corner's top (column-reverse).
      for (const item of [...shown].reverse()) {
        if (toasts.has(item.id)) continue;
        const toast = makeToast(item);
        toasts.set(item.id, toast);
        area.append(toast);
      }
      const hidden = data.unread - shown.length;
      if (hidden > 0 && !phone.matches) {
        if (!more) {
          more = document.createElement("a");
          more.className = "toast-more";
          more.href = listUrl;
        }
        more.textContent = hidden + " more unread: see all";
        area.prepend(more);
      } else if (more) {
        more.remove();
        more = null;
      }
      setCount(data.unread);
      placeSoon();
    }

    async function poll() {
      if (busy || document.visibilityState !== "visible") return;
      busy = true;
      try {
        const response = await fetch(feedUrl, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { "Accept": "application/json" },
        });
        const type = response.headers.get("Content-Type") || "";
        if (response.ok && type.startsWith("application/json")) {
          const data = await response.json();
          if (!data.signed_in) {
            // The session ended (inactivity, or signed out in another tab): reloading
            // shows the sign-in page with the reason.
            window.location.replace(window.location.href);
            return;
          }
          render(data);
        }
      } catch (_error) {
        // Network hiccup or server restart: try again on the next tick.
      } finally {
        busy = false;
      }
    }

    function schedule() {
      clearInterval(timer);
      timer = setInterval(poll, POLL_MS);
    }

    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") { poll(); schedule(); }
      else clearInterval(timer);
    });
    window.addEventListener("scroll", placeSoon, { passive: true });
    window.addEventListener("resize", placeSoon);
    poll();
    schedule();
  }

  function init() {
    initMenu();
    initTabs();
    initCopyButtons();
    initConfirmPanels();
    initNotifications();
    // Other static files may register more initialisers here.
    for (const extra of (window.StrongroomInit || [])) extra();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
