"use strict";
// Strongroom offline viewer, format 1 (docs/offline-file-format.md).
// Runs from a file on disk under a CSP that allows only this script and its stylesheet:
// no network, no eval, no storage. Data is rendered with textContent only.
(() => {
  const HEADER_ID = "strongroom-header";
  const PAYLOAD_ID = "strongroom-payload";
  const FORMAT = "strongroom-offline";
  const PAYLOAD_FORMAT = "strongroom-offline-payload";
  const VERSION = 1;
  const MAX_ITERATIONS = 20000000;
  const WRAP_LABEL = "strongroom-offline/1 private key\u0000";
  const HKDF_LABEL = "strongroom-offline/1 content key\u0000";
  const FIELDS = ["name", "type", "host", "url", "username", "password", "notes", "totp",
    "folder", "department", "location", "updated"];
  const IDLE_MS = 5 * 60 * 1000;
  const CLIPBOARD_MS = 30 * 1000;
  const ROW_H = 64;
  const MAX_SCROLL_PX = 8000000; // browsers cap element heights; scale beyond this
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  const enc = new TextEncoder();

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  class ViewerError extends Error {
    constructor(kind, detail) {
      super(kind);
      this.kind = kind; // "wrong" | "damaged" | "unsupported" | "browser"
      this.detail = detail || "";
    }
  }
  const damaged = (detail) => new ViewerError("damaged", detail);

  // ------------------------------------------------------------------ bytes and header

  function fromB64(text) {
    if (typeof text !== "string") throw damaged("field is not text");
    try {
      if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
      const bin = atob(text);
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    } catch (e) {
      throw damaged("bad base64");
    }
  }

  function b64url(bytes) {
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function concat(...parts) {
    const total = parts.reduce((sum, p) => sum + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function uint32be(n) {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, n, false);
    return out;
  }

  const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
  function parseDate(text, nullable) {
    if (text === null && nullable) return null;
    if (typeof text !== "string" || !ISO.test(text)) throw damaged("bad date");
    const d = new Date(text);
    if (isNaN(d.getTime())) throw damaged("bad date");
    return d;
  }

  // The header text is ASCII JSON placed verbatim in the page; its exact bytes are the
  // associated data of the payload, so it is never re-serialised.
  function readHeader() {
    const node = $(HEADER_ID);
    if (!node) throw damaged("no header");
    const text = node.textContent;
    let h;
    try { h = JSON.parse(text); } catch (e) { throw damaged("header is not JSON"); }
    if (!h || typeof h !== "object" || Array.isArray(h)) throw damaged("bad header");
    if (h.format !== FORMAT) throw new ViewerError("unsupported", "not a Strongroom offline file");
    if (h.version !== VERSION) throw new ViewerError("unsupported", String(h.version));
    const it = h.kdf_iterations;
    if (!Number.isInteger(it) || it < 1 || it > MAX_ITERATIONS) throw damaged("iterations");
    if (typeof h.title !== "string" || typeof h.owner !== "string") throw damaged("title");
    return {
      text,
      iterations: it,
      title: h.title,
      owner: h.owner,
      generatedAt: parseDate(h.generated_at, false),
      expiresAt: parseDate(h.expires_at, true),
      raw: h,
    };
  }

  function sized(bytes, n) {
    if (bytes.length !== n) throw damaged("bad field length");
    return bytes;
  }

  // ------------------------------------------------------------------ decryption

  // The ciphertext is not secret: decode it while the user types the passphrase.
  let cipherCache = null;
  function payloadBytes() {
    if (!cipherCache) {
      const node = $(PAYLOAD_ID);
      if (!node) throw damaged("no payload");
      cipherCache = fromB64(node.textContent);
    }
    return cipherCache;
  }

  async function decrypt(header, passphrase) {
    const h = header.raw;
    const salt = sized(fromB64(h.kdf_salt), 16);
    const pub = sized(fromB64(h.public_key), 65);
    const wrapped = sized(fromB64(h.wrapped_private_key), 60);
    const eph = sized(fromB64(h.ephemeral_public_key), 65);
    const nonce = sized(fromB64(h.payload_nonce), 12);
    const ciphertext = payloadBytes();
    if (ciphertext.length < 16) throw damaged("payload too short");

    // 1. passphrase -> key-encryption key (PBKDF2-HMAC-SHA256)
    const base = await subtle.importKey("raw", enc.encode(passphrase.normalize("NFC")),
      "PBKDF2", false, ["deriveKey"]);
    const kek = await subtle.deriveKey(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations: header.iterations },
      base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    performance.mark("strongroom:kdf-done");

    // 2. unwrap the copy's private key; a failure means a wrong passphrase (or edited
    //    iterations, salt, public key or wrapped key: all are in this associated data)
    const wrapAad = concat(enc.encode(WRAP_LABEL), uint32be(header.iterations), salt, pub);
    let scalar;
    try {
      scalar = new Uint8Array(await subtle.decrypt(
        { name: "AES-GCM", iv: wrapped.subarray(0, 12), additionalData: wrapAad },
        kek, wrapped.subarray(12)));
    } catch (e) {
      throw new ViewerError("wrong");
    }
    let privateKey;
    try {
      privateKey = await subtle.importKey("jwk", {
        kty: "EC", crv: "P-256", ext: false, key_ops: ["deriveBits"],
        d: b64url(scalar), x: b64url(pub.subarray(1, 33)), y: b64url(pub.subarray(33, 65)),
      }, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    } catch (e) {
      throw damaged("private key");
    } finally {
      scalar.fill(0);
    }

    // 3. ECDH with the build's ephemeral key, HKDF-SHA256 -> content key
    let ephKey;
    try {
      ephKey = await subtle.importKey("raw", eph, { name: "ECDH", namedCurve: "P-256" },
        false, []);
    } catch (e) {
      throw damaged("ephemeral key");
    }
    const shared = await subtle.deriveBits({ name: "ECDH", public: ephKey }, privateKey, 256);
    const hkdf = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
    const contentKey = await subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32),
        info: concat(enc.encode(HKDF_LABEL), eph, pub) },
      hkdf, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    new Uint8Array(shared).fill(0);

    // 4. the payload, authenticated together with every byte of the header
    let gz;
    try {
      gz = await subtle.decrypt(
        { name: "AES-GCM", iv: nonce, additionalData: enc.encode(header.text) },
        contentKey, ciphertext);
    } catch (e) {
      throw damaged("payload authentication");
    }
    performance.mark("strongroom:decrypted");
    let doc;
    try {
      const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
      // text() then JSON.parse is faster in Chromium than Response.json().
      doc = JSON.parse(await new Response(stream).text());
    } catch (e) {
      throw damaged("payload does not decode");
    }
    performance.mark("strongroom:parsed");
    if (!doc || doc.format !== PAYLOAD_FORMAT) throw new ViewerError("unsupported", "payload");
    if (doc.version !== VERSION) throw new ViewerError("unsupported", String(doc.version));
    if (!Array.isArray(doc.fields) || !Array.isArray(doc.entries)) throw damaged("layout");
    const col = {};
    for (const name of FIELDS) {
      const i = doc.fields.indexOf(name);
      if (i < 0) throw new ViewerError("unsupported", "field " + name);
      col[name] = i;
    }
    const width = doc.fields.length;
    for (const row of doc.entries) {
      if (!Array.isArray(row) || row.length !== width) throw damaged("row");
    }
    return { col, rows: doc.entries };
  }

  // ------------------------------------------------------------------ TOTP (RFC 6238)

  const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  function base32(text) {
    const clean = text.replace(/[\s=-]/g, "").toUpperCase();
    if (!clean) throw new Error("empty");
    const out = [];
    let bits = 0, value = 0;
    for (const ch of clean) {
      const v = B32.indexOf(ch);
      if (v < 0) throw new Error("not base32");
      value = (value << 5) | v;
      bits += 5;
      if (bits >= 8) { out.push((value >>> (bits - 8)) & 255); bits -= 8; }
    }
    return new Uint8Array(out);
  }

  const TOTP_HASHES = { SHA1: "SHA-1", SHA256: "SHA-256", SHA512: "SHA-512" };
  function totpParams(seed) {
    let secret = seed, digits = 6, period = 30, hash = "SHA-1";
    if (/^otpauth:/i.test(seed)) {
      const url = new URL(seed);
      if (url.host.toLowerCase() !== "totp") throw new Error("not TOTP");
      const p = {};
      for (const [k, v] of url.searchParams) p[k.toLowerCase()] = v;
      secret = p.secret || "";
      digits = parseInt(p.digits || "6", 10);
      period = parseInt(p.period || "30", 10);
      hash = TOTP_HASHES[(p.algorithm || "SHA1").toUpperCase()];
      if (!hash) throw new Error("algorithm");
    }
    if (!(digits >= 6 && digits <= 10) || !(period >= 1 && period <= 3600)) {
      throw new Error("parameters");
    }
    return { secret: base32(secret), digits, period, hash };
  }

  async function totpCode(p, nowMs) {
    const counter = Math.floor(nowMs / 1000 / p.period);
    const msg = new Uint8Array(8);
    const view = new DataView(msg.buffer);
    view.setUint32(0, Math.floor(counter / 4294967296), false);
    view.setUint32(4, counter >>> 0, false);
    const key = await subtle.importKey("raw", p.secret, { name: "HMAC", hash: p.hash },
      false, ["sign"]);
    const mac = new Uint8Array(await subtle.sign("HMAC", key, msg));
    const o = mac[mac.length - 1] & 15;
    const bin = ((mac[o] & 0x7f) * 16777216) + (mac[o + 1] << 16) + (mac[o + 2] << 8) + mac[o + 3];
    return { code: String(bin % Math.pow(10, p.digits)).padStart(p.digits, "0"),
      remaining: p.period - (Math.floor(nowMs / 1000) % p.period), counter };
  }

  // ------------------------------------------------------------------ state

  let header = null;
  let vault = null; // { col, rows, hay, results, query } while unlocked; null when locked
  let selected = -1;
  let revealed = false;
  let totpTimer = 0;
  let lastActivity = Date.now();
  let clipTimer = 0;
  let clipPending = false;
  let toastTimer = 0;
  let historyPushed = false; // phones: the system Back gesture closes the detail sheet
  const pool = [];

  const ui = {};
  function bindUi() {
    for (const id of ["app", "lock", "lock-title", "lock-meta", "lock-expiry", "unlock-form",
      "passphrase", "pass-show", "unlock", "unlock-error", "lock-note", "vault", "vault-title",
      "vault-meta", "vault-expiry", "search", "count", "list", "spacer", "rows", "empty",
      "detail", "detail-body", "detail-close", "lock-now", "toast"]) {
      ui[id] = $(id);
    }
  }

  // ------------------------------------------------------------------ formatting

  function fmtDate(d) {
    return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit" });
  }
  function fmtDay(d) {
    return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  }
  function ago(d) {
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    if (s < 90) return "just now";
    if (s < 5400) return Math.round(s / 60) + " minutes ago";
    if (s < 129600) return Math.round(s / 3600) + " hours ago";
    return Math.round(s / 86400) + " days ago";
  }
  const nf = new Intl.NumberFormat();

  function expiryBanner(node) {
    node.hidden = true;
    node.className = "banner";
    if (!header || !header.expiresAt) return;
    const left = header.expiresAt.getTime() - Date.now();
    if (left <= 0) {
      node.classList.add("banner-danger");
      node.textContent = "This copy expired on " + fmtDay(header.expiresAt) +
        ". It still opens, but passwords may have changed since it was made: get a fresh " +
        "copy from Strongroom when you can.";
      node.hidden = false;
    } else if (left < 7 * 86400000) {
      node.classList.add("banner-warn");
      node.textContent = "This copy expires on " + fmtDay(header.expiresAt) +
        " (advisory). Get a fresh copy from Strongroom before then.";
      node.hidden = false;
    }
  }

  function metaLine() {
    const parts = [];
    if (header.owner) parts.push("for " + header.owner);
    parts.push("made " + fmtDate(header.generatedAt) + " (" + ago(header.generatedAt) + ")");
    return parts.join(" · ");
  }

  // ------------------------------------------------------------------ lock screen

  function showError(kind, detail) {
    const messages = {
      wrong: "Wrong passphrase. Check it and try again. (If you are sure it is right, the " +
        "file's key was edited: get a fresh copy.)",
      damaged: "This file is damaged or was edited after it was made, so nothing in it can " +
        "be trusted and nothing is shown. Get a fresh copy from Strongroom.",
      unsupported: "This file was made by a newer or different version of Strongroom and " +
        "this viewer cannot open it. Open it with the viewer it came with, or get a fresh copy.",
      browser: "This browser cannot open the file: it needs Web Crypto and " +
        "DecompressionStream (current Safari, Chrome, Edge or Firefox). On a phone, open the " +
        "file in Safari or Chrome rather than in an app's preview.",
    };
    ui["unlock-error"].textContent = messages[kind] || messages.damaged;
    ui["unlock-error"].dataset.kind = kind;
    ui["unlock-error"].hidden = false;
    if (detail) ui["unlock-error"].title = detail;
  }

  function clearError() {
    ui["unlock-error"].hidden = true;
    ui["unlock-error"].textContent = "";
    delete ui["unlock-error"].dataset.kind;
  }

  function disableUnlock() {
    ui.passphrase.disabled = true;
    ui.unlock.disabled = true;
  }

  async function onUnlock(event) {
    event.preventDefault();
    if (ui.unlock.disabled || vault) return;
    const passphrase = ui.passphrase.value;
    if (!passphrase) { ui.passphrase.focus(); return; }
    clearError();
    ui.unlock.disabled = true;
    ui.unlock.textContent = "Unlocking…";
    ui["lock-note"].hidden = true;
    performance.clearMarks();
    performance.mark("strongroom:unlock-start");
    try {
      const data = await decrypt(header, passphrase);
      ui.passphrase.value = "";
      if (document.hidden) {
        // Switched away while it was unlocking: stay locked.
        ui["lock-note"].textContent = "Locked because you switched away from this page.";
        ui["lock-note"].hidden = false;
        return;
      }
      openVault(data);
    } catch (e) {
      const kind = e instanceof ViewerError ? e.kind : "damaged";
      showError(kind, e instanceof ViewerError ? e.detail : "");
      if (kind === "wrong") { ui.passphrase.select(); ui.passphrase.focus(); }
      if (kind === "damaged" || kind === "unsupported") {
        disableUnlock();
        // What the header claims (dates, owner) was not authenticated: stop showing it.
        ui["lock-meta"].hidden = true;
        ui["lock-expiry"].hidden = true;
      }
    } finally {
      ui.unlock.textContent = "Unlock";
      if (!ui.passphrase.disabled) ui.unlock.disabled = false;
    }
  }

  // ------------------------------------------------------------------ unlocked view

  function openVault(data) {
    const n = data.rows.length;
    const all = new Int32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    vault = { col: data.col, rows: data.rows, hay: null, results: all, query: "" };
    lastActivity = Date.now();
    ui.lock.hidden = true;
    ui.vault.hidden = false;
    document.documentElement.dataset.state = "unlocked";
    ui["vault-title"].textContent = header.title || "Offline copy";
    ui["vault-meta"].textContent = metaLine();
    expiryBanner(ui["vault-expiry"]);
    ui.search.value = "";
    ui.list.scrollTop = 0;
    closeDetail();
    updateCount();
    render();
    // Marks for bench/offline.py (timings only, never data).
    performance.mark("strongroom:rows-drawn");
    // Search text is built after the first rows are on screen, a slice at a time so the
    // page stays responsive; a search before it is done finishes it at once.
    const opened = vault;
    requestAnimationFrame(() => setTimeout(() => {
      performance.mark("strongroom:rows-painted");
      const step = () => {
        if (vault !== opened || !buildHay(20000)) return;
        setTimeout(step, 0);
      };
      step();
    }, 0));
    if (!window.matchMedia("(pointer: coarse)").matches) ui.search.focus();
  }

  // Returns true while there is more to do.
  function buildHay(limit) {
    if (vault.hay) return false;
    const { col, rows } = vault;
    if (!vault.hayParts) vault.hayParts = [];
    const parts = vault.hayParts;
    const end = Math.min(rows.length, parts.length + (limit || rows.length));
    for (let i = parts.length; i < end; i++) {
      const r = rows[i];
      parts.push((r[col.name] + "\n" + r[col.username] + "\n" + r[col.host] + "\n" +
        r[col.url] + "\n" + r[col.folder]).toLowerCase());
    }
    if (parts.length < rows.length) return true;
    vault.hay = parts;
    vault.hayParts = null;
    return false;
  }

  function onSearch() {
    if (!vault) return;
    const t0 = performance.now();
    buildHay();
    const q = ui.search.value.toLowerCase();
    const terms = q.split(/\s+/).filter(Boolean);
    const hay = vault.hay;
    // Typing narrows what is already found; anything else scans everything.
    const base = vault.query && q.startsWith(vault.query) && !/\s$/.test(vault.query)
      ? vault.results : null;
    let out;
    if (!terms.length) {
      out = new Int32Array(hay.length);
      for (let i = 0; i < out.length; i++) out[i] = i;
    } else {
      const found = [];
      const n = base ? base.length : hay.length;
      outer: for (let k = 0; k < n; k++) {
        const i = base ? base[k] : k;
        const s = hay[i];
        for (let t = 0; t < terms.length; t++) if (s.indexOf(terms[t]) < 0) continue outer;
        found.push(i);
      }
      out = Int32Array.from(found);
    }
    vault.results = out;
    vault.query = q;
    ui.list.scrollTop = 0;
    updateCount();
    render();
    performance.measure("strongroom:search", { start: t0, end: performance.now() });
  }

  function updateCount() {
    const total = vault.rows.length, shown = vault.results.length;
    ui.count.textContent = shown === total
      ? nf.format(total) + (total === 1 ? " entry" : " entries")
      : nf.format(shown) + " of " + nf.format(total);
    ui.empty.hidden = shown !== 0;
  }

  // A virtualised list: the spacer gives the scroll height, and a small pool of row
  // elements is moved and refilled to cover only what is on screen.
  function makeRow() {
    const row = el("div", "row");
    row.setAttribute("role", "option");
    const badge = el("span", "badge");
    badge.setAttribute("aria-hidden", "true");
    const text = el("span", "row-text");
    const name = el("span", "row-name");
    const sub = el("span", "row-sub");
    text.append(name, sub);
    const copy = el("button", "row-copy", "Copy");
    copy.type = "button";
    copy.title = "Copy password";
    row.append(badge, text, copy);
    row._idx = -1;
    row._parts = { badge, name, sub, copy };
    ui.rows.appendChild(row);
    return row;
  }

  function initial(text) {
    const first = Array.from(text.trim())[0] || "?";
    return first.toUpperCase();
  }

  const HUES = [211, 162, 28, 268, 340, 190, 96, 8];
  function hue(text) {
    let h = 0;
    for (let i = 0; i < text.length && i < 16; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
    return HUES[Math.abs(h) % HUES.length];
  }

  function render() {
    if (!vault) return;
    const res = vault.results;
    const n = res.length;
    const viewH = ui.list.clientHeight || window.innerHeight;
    const total = n * ROW_H;
    const spacerH = Math.min(total, MAX_SCROLL_PX);
    ui.spacer.style.height = spacerH + "px";
    const maxScroll = Math.max(0, spacerH - viewH);
    const st = Math.min(ui.list.scrollTop, maxScroll);
    const virtualTop = spacerH === total ? st
      : (maxScroll > 0 ? (st / maxScroll) * (total - viewH) : 0);
    const first = Math.max(0, Math.floor(virtualTop / ROW_H));
    const count = Math.ceil(viewH / ROW_H) + 2;
    while (pool.length < count) pool.push(makeRow());
    const { col, rows } = vault;
    for (let k = 0; k < pool.length; k++) {
      const row = pool[k];
      const pos = first + k;
      if (k >= count || pos >= n) {
        if (row._idx !== -1 || !row.hidden) {
          row.hidden = true;
          row._idx = -1;
          row._parts.name.textContent = "";
          row._parts.sub.textContent = "";
          row._parts.badge.textContent = "";
        }
        continue;
      }
      const idx = res[pos];
      row.hidden = false;
      row.style.transform = "translateY(" + (st + pos * ROW_H - virtualTop) + "px)";
      row.classList.toggle("selected", idx === selected);
      row.setAttribute("aria-selected", idx === selected ? "true" : "false");
      if (row._idx === idx) continue;
      row._idx = idx;
      const r = rows[idx];
      const p = row._parts;
      p.name.textContent = r[col.name] || "(no name)";
      const where = r[col.host] || r[col.url];
      p.sub.textContent = [r[col.username], where, r[col.folder]].filter(Boolean).join("  ·  ");
      p.badge.textContent = initial(r[col.name] || "?");
      p.badge.style.setProperty("--hue", String(hue(r[col.name] || "")));
      p.copy.hidden = !r[col.password];
    }
  }

  // ------------------------------------------------------------------ detail sheet

  function field(label, value, opts) {
    const o = opts || {};
    const wrap = el("div", "field" + (o.cls ? " " + o.cls : ""));
    const lab = el("div", "field-label", label);
    const val = el("div", "field-value" + (o.mono ? " mono" : ""));
    if (o.masked) {
      val.textContent = "••••••••••••";
      val.classList.add("masked");
    } else {
      val.textContent = value;
    }
    val.dir = "auto";
    const actions = el("div", "field-actions");
    wrap.append(lab, val, actions);
    return { wrap, val, actions };
  }

  function action(parent, label, onClick, cls) {
    const b = el("button", "btn" + (cls ? " " + cls : ""), label);
    b.type = "button";
    b.addEventListener("click", onClick);
    parent.appendChild(b);
    return b;
  }

  function openDetail(idx) {
    if (!vault) return;
    selected = idx;
    revealed = false;
    stopTotp();
    const { col, rows } = vault;
    const r = rows[idx];
    const body = ui["detail-body"];
    body.textContent = "";
    const head = el("div", "detail-head");
    const badge = el("span", "badge badge-lg", initial(r[col.name] || "?"));
    badge.style.setProperty("--hue", String(hue(r[col.name] || "")));
    badge.setAttribute("aria-hidden", "true");
    const titles = el("div", "detail-titles");
    const h = el("h2", "", r[col.name] || "(no name)");
    h.id = "detail-name";
    h.dir = "auto";
    const sub = el("div", "detail-sub", [r[col.type], r[col.folder]].filter(Boolean).join(" · "));
    sub.dir = "auto";
    titles.append(h, sub);
    head.append(badge, titles);
    body.appendChild(head);

    const user = field("Username", r[col.username]);
    if (r[col.username]) action(user.actions, "Copy", () => copy(r[col.username], "Username"));
    body.appendChild(user.wrap);

    const pw = field("Password", r[col.password], { masked: true, mono: true, cls: "password" });
    pw.val.id = "detail-password";
    const reveal = action(pw.actions, "Reveal", () => {
      revealed = !revealed;
      pw.val.textContent = revealed ? r[col.password] : "••••••••••••";
      pw.val.classList.toggle("masked", !revealed);
      reveal.textContent = revealed ? "Hide" : "Reveal";
      reveal.setAttribute("aria-pressed", revealed ? "true" : "false");
    });
    reveal.setAttribute("aria-pressed", "false");
    action(pw.actions, "Copy", () => copy(r[col.password], "Password"), "btn-primary");
    body.appendChild(pw.wrap);

    const seed = r[col.totp];
    if (seed) {
      const t = field("One-time code", "······", { mono: true, cls: "totp" });
      t.val.id = "detail-totp";
      const left = el("span", "totp-left");
      t.val.after(left);
      action(t.actions, "Copy", () => {
        if (t.val.dataset.code) copy(t.val.dataset.code, "Code");
      });
      body.appendChild(t.wrap);
      startTotp(seed, t.val, left);
    }

    const url = r[col.url];
    if (url) {
      const u = field("URL", url);
      if (/^https?:\/\//i.test(url)) {
        const a = el("a", "btn", "Open");
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        u.actions.appendChild(a);
      }
      action(u.actions, "Copy", () => copy(url, "URL"));
      body.appendChild(u.wrap);
    }
    if (r[col.host] && r[col.host] !== url) {
      const hst = field("Host", r[col.host]);
      action(hst.actions, "Copy", () => copy(r[col.host], "Host"));
      body.appendChild(hst.wrap);
    }
    if (r[col.notes]) body.appendChild(field("Notes", r[col.notes], { cls: "notes" }).wrap);
    const facts = [["Folder", r[col.folder]], ["Type", r[col.type]],
      ["Department", r[col.department]], ["Location", r[col.location]]];
    for (const [label, value] of facts) {
      if (value) body.appendChild(field(label, value, { cls: "small" }).wrap);
    }
    if (r[col.updated]) {
      const d = new Date(r[col.updated]);
      if (!isNaN(d.getTime())) body.appendChild(field("Updated", fmtDate(d), { cls: "small" }).wrap);
    }
    ui.detail.hidden = false;
    document.documentElement.classList.add("detail-open");
    if (!historyPushed && window.matchMedia("(max-width: 879px)").matches) {
      try {
        history.pushState({ strongroomDetail: 1 }, "");
        historyPushed = true;
      } catch (e) {
        historyPushed = false;
      }
    }
    render();
    ui["detail-close"].focus({ preventScroll: true });
  }

  function closeDetail() {
    stopTotp();
    selected = -1;
    revealed = false;
    ui["detail-body"].textContent = "";
    ui.detail.hidden = true;
    document.documentElement.classList.remove("detail-open");
    if (historyPushed) {
      historyPushed = false;
      history.back();
    }
    if (vault) render();
  }

  function startTotp(seed, node, left) {
    let params;
    try {
      params = totpParams(seed);
    } catch (e) {
      node.textContent = "This account's TOTP seed cannot make codes";
      node.classList.remove("mono");
      return;
    }
    let shownCounter = -1;
    const tick = async () => {
      const now = Date.now();
      const t = await totpCode(params, now);
      if (!vault || node.isConnected === false) return;
      if (t.counter !== shownCounter) {
        shownCounter = t.counter;
        node.dataset.code = t.code;
        const half = Math.ceil(t.code.length / 2);
        node.textContent = t.code.slice(0, half) + " " + t.code.slice(half);
      }
      left.textContent = t.remaining + " s";
      left.classList.toggle("soon", t.remaining <= 5);
    };
    tick();
    totpTimer = setInterval(tick, 1000);
  }

  function stopTotp() {
    if (totpTimer) { clearInterval(totpTimer); totpTimer = 0; }
  }

  // ------------------------------------------------------------------ clipboard

  async function writeClipboard(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el("textarea", "offscreen");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) throw new Error("copy refused");
  }

  async function copy(text, what) {
    try {
      await writeClipboard(text);
    } catch (e) {
      toast("Could not copy: this browser refused access to the clipboard");
      return;
    }
    clearTimeout(clipTimer);
    clipTimer = setTimeout(clearClipboard, CLIPBOARD_MS);
    toast(what + " copied. The clipboard is cleared in " + CLIPBOARD_MS / 1000 + " s.");
  }

  async function clearClipboard() {
    clipTimer = 0;
    try {
      await writeClipboard("");
      clipPending = false;
      toast("Clipboard cleared");
    } catch (e) {
      clipPending = true; // the page was not focused: try again when it is
    }
  }

  function toast(text) {
    ui.toast.textContent = text;
    ui.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { ui.toast.hidden = true; }, 4000);
  }

  // ------------------------------------------------------------------ locking

  function lock(reason) {
    if (!vault) return;
    // Drop every reference to decrypted data; the garbage collector does the rest.
    vault = null;
    closeDetail();
    for (const row of pool) row.remove();
    pool.length = 0;
    ui.rows.textContent = "";
    ui.spacer.style.height = "0px";
    ui.search.value = "";
    ui.count.textContent = "";
    ui.vault.hidden = true;
    ui.lock.hidden = false;
    document.documentElement.dataset.state = "locked";
    const notes = {
      idle: "Locked after 5 minutes without activity.",
      hidden: "Locked because you switched away from this page.",
      manual: "Locked.",
    };
    ui["lock-note"].textContent = notes[reason] || notes.manual;
    ui["lock-note"].hidden = false;
    expiryBanner(ui["lock-expiry"]);
    if (!document.hidden) ui.passphrase.focus({ preventScroll: true });
  }

  function activity() {
    lastActivity = Date.now();
  }

  // ------------------------------------------------------------------ start

  function start() {
    bindUi();
    ui.app.hidden = false;
    document.documentElement.dataset.state = "locked";
    if (!subtle || typeof DecompressionStream !== "function") {
      showError("browser");
      disableUnlock();
    }
    try {
      header = readHeader();
    } catch (e) {
      const kind = e instanceof ViewerError ? e.kind : "damaged";
      showError(kind);
      disableUnlock();
      ui["lock-title"].textContent = "Offline copy";
      return;
    }
    document.title = (header.title || "Offline copy") + " · Strongroom";
    setTimeout(() => {
      try { payloadBytes(); } catch (e) { /* reported when unlocking */ }
    }, 50);
    ui["lock-title"].textContent = header.title || "Offline copy";
    ui["lock-meta"].textContent = metaLine();
    expiryBanner(ui["lock-expiry"]);

    ui["unlock-form"].addEventListener("submit", onUnlock);
    ui["pass-show"].addEventListener("click", () => {
      const show = ui.passphrase.type === "password";
      ui.passphrase.type = show ? "text" : "password";
      ui["pass-show"].textContent = show ? "Hide" : "Show";
      ui["pass-show"].setAttribute("aria-pressed", show ? "true" : "false");
      ui.passphrase.focus();
    });
    ui.search.addEventListener("input", onSearch);
    ui.list.addEventListener("scroll", () => { requestAnimationFrame(render); }, { passive: true });
    window.addEventListener("resize", () => { requestAnimationFrame(render); });
    ui.rows.addEventListener("click", (event) => {
      const row = event.target.closest(".row");
      if (!row || row._idx < 0 || !vault) return;
      if (event.target.closest(".row-copy")) {
        copy(vault.rows[row._idx][vault.col.password], "Password");
        return;
      }
      openDetail(row._idx);
    });
    ui["detail-close"].addEventListener("click", closeDetail);
    window.addEventListener("popstate", () => {
      if (historyPushed) {
        historyPushed = false;
        closeDetail();
      }
    });
    ui["lock-now"].addEventListener("click", () => lock("manual"));
    document.addEventListener("keydown", (event) => {
      if (!vault) return;
      if (event.key === "Escape") {
        if (!ui.detail.hidden) closeDetail();
        else if (ui.search.value) { ui.search.value = ""; onSearch(); }
      } else if (event.key === "/" && document.activeElement !== ui.search) {
        event.preventDefault();
        ui.search.focus();
      } else if (event.key === "Enter" && document.activeElement === ui.search &&
        vault.results.length) {
        openDetail(vault.results[0]);
      }
    });
    for (const type of ["pointerdown", "keydown", "wheel", "touchstart", "input"]) {
      document.addEventListener(type, activity, { capture: true, passive: true });
    }
    ui.list.addEventListener("scroll", activity, { passive: true });
    setInterval(() => {
      if (vault && Date.now() - lastActivity >= IDLE_MS) lock("idle");
    }, 5000);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) lock("hidden");
      else if (clipPending) clearClipboard();
    });
    window.addEventListener("pagehide", () => lock("hidden"));
    window.addEventListener("focus", () => { if (clipPending) clearClipboard(); });
    if (!ui.passphrase.disabled) ui.passphrase.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
