// Cloud storage page: the redirect-flow Authorize opens the provider in a new window. When the
// provider sends that window back and the connection is saved, the page there announces it on a
// same-origin BroadcastChannel and this window (still showing "Authorize") reloads to show the
// connection. Without script both windows still work: the new one shows the result, this one
// shows it on the next load. No window.opener is kept (the link is noopener): the provider's
// pages never get a handle on Strongroom's window.
(function () {
  "use strict";
  const CHANNEL = "strongroom-storage";

  function init() {
    const root = document.querySelector("[data-storage-page]");
    if (!root || !("BroadcastChannel" in window)) {
      if (root) root.dataset.storageJs = "ready";
      return;
    }
    const channel = new BroadcastChannel(CHANNEL);
    const connected = root.dataset.justConnected;
    if (connected) {
      // This is the window the provider sent back: tell the page that opened the flow.
      channel.postMessage({ connected: connected });
    }
    channel.addEventListener("message", (event) => {
      const data = event.data || {};
      if (typeof data.connected !== "string" || data.connected === connected) return;
      const card = document.querySelector(`section[data-provider="${CSS.escape(data.connected)}"]`);
      // Reload only a page still waiting for that provider (not the one that announced it).
      if (card && card.querySelector(".oauth-connect")) window.location.reload();
    });
    root.dataset.storageJs = "ready";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
