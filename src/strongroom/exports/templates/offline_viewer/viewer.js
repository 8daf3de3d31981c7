"use strict";
// Strongroom offline viewer: reads format versions 1 to 4 (docs/offline-file-format.md).
// Version 4 adds each account's attachments: listed in its row, the bytes of the ones the
// copy carries in segments after the rows (downloaded from a Blob, never rendered).
// Version 3 payloads come in segments: the first rows are drawn as soon as segment 0 (every
// name and the first screenful) authenticates; the rest is decrypted a segment at a time,
// yielding to the page between segments, and searched as it arrives.
// Runs from a file on disk under a CSP that allows only this script and its stylesheet:
// no network, no eval, no storage. Data is rendered with textContent only.
//
// Every reading rule below is also implemented by `strongroom open`; both give the same
// verdict for every file: "ok" (versions 2 and 3; for 3 once every segment is in), "ok_v1", "wrong_passphrase", "damaged" or
// "unsupported" (exposed as data-verdict on <html> and on the error message).
(() => {
  // The element ids are assembled so that this script never contains them verbatim: the
  // page must hold each exactly once, and the command-line reader counts their bytes.
  const HEADER_ID = "strongroom" + "-header";
  const PAYLOAD_ID = "strongroom" + "-payload";
  const HEADER_TYPE = "application/json";
  const PAYLOAD_TYPE = "application/octet-stream";
  const FORMAT = "strongroom-offline";
  const PAYLOAD_FORMAT = "strongroom-offline-payload";
  const MAX_ITERATIONS = 20000000;
  const MAX_HEADER = 65536;
  const MAX_LABEL_CP = 1000; // title, owner
  const MAX_TEXT_CP = 1000000; // every payload string
  const HEADER_KEYS = ["ephemeral_public_key", "expires_at", "format", "generated_at",
    "kdf_iterations", "kdf_salt", "owner", "payload_nonce", "public_key", "title", "version",
    "wrapped_private_key"];
  const V1_FIELDS = ["name", "type", "host", "url", "username", "password", "notes", "totp",
    "folder", "department", "location", "updated"];
  const V2_FIELDS = V1_FIELDS.concat(["description", "custom"]);
  const V4_FIELDS = V2_FIELDS.concat(["attachments"]);
  const VERSIONS = {
    1: { wrap: "strongroom-offline/1 private key\u0000",
      hkdf: "strongroom-offline/1 content key\u0000", wrapped: 60, fields: V1_FIELDS },
    2: { wrap: "strongroom-offline/2 private key\u0000",
      hkdf: "strongroom-offline/2 content key\u0000", wrapped: 92, fields: V2_FIELDS },
    // Version 3 carries version 2 copy keys as they are (same wrap label and size).
    3: { wrap: "strongroom-offline/2 private key\u0000",
      hkdf: "strongroom-offline/3 content key\u0000", wrapped: 92, fields: V2_FIELDS },
    4: { wrap: "strongroom-offline/2 private key\u0000",
      hkdf: "strongroom-offline/4 content key\u0000", wrapped: 92, fields: V4_FIELDS },
  };
  // Version 4 attachments (§8.4): per entry at most 100, 1 byte to 100 MiB each, names
  // that are file names (the vault's rule, as `strongroom open` applies it).
  const MAX_ATTACHMENTS = 100;
  const MAX_ATTACHMENT_BYTES = 104857600;
  const MAX_ATTACHMENT_NAME = 255;
  const SIZE_RE = /^[1-9][0-9]{0,8}$/;
  const SHA256_RE = /^[0-9a-f]{64}$/;
  const NAME_BAD = /[\p{Cc}\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/u;
  const NAME_SPACE_END = /^[\p{Zs}\p{Zl}\p{Zp}]|[\p{Zs}\p{Zl}\p{Zp}]$/u;
  const MAX_SEGMENTS = 1 << 24;
  // The most bytes one payload (version 3: one segment) may decompress to: Chromium's
  // longest string, so every engine and `strongroom open` refuse the same files.
  const MAX_PAYLOAD_BYTES = (1 << 29) - 24;
  // Value kinds per column (both versions share the first twelve columns).
  const K_STR = 0, K_TOTP = 1, K_DATE = 2, K_CUSTOM = 3, K_FILES = 4;
  const V1_KINDS = [K_STR, K_STR, K_STR, K_STR, K_STR, K_STR, K_STR, K_TOTP, K_STR, K_STR,
    K_STR, K_DATE];
  const V2_KINDS = V1_KINDS.concat([K_STR, K_CUSTOM]);
  const V4_KINDS = V2_KINDS.concat([K_FILES]);
  const FUTURE_SLACK_MS = 5 * 60 * 1000;
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
  const unsupported = (detail) => new ViewerError("unsupported", detail);
  const VERDICTS = { wrong: "wrong_passphrase", damaged: "damaged", unsupported: "unsupported",
    browser: "browser" };

  // ------------------------------------------------------------------ bytes

  // Strict base64: standard alphabet, "=" padding required, no whitespace, and canonical
  // (the unused low bits of the last symbol are zero).
  const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  function fromB64(text) {
    if (typeof text !== "string" || text.length % 4 !== 0) throw damaged("bad base64");
    const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
    const want = (text.length / 4) * 3 - pad;
    let out;
    if (typeof Uint8Array.fromBase64 === "function") {
      // "strict" refuses missing padding and non-zero padding bits; it skips ASCII
      // whitespace, which the length check below catches (each skipped character
      // shortens the output against the text's length).
      try {
        out = Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
      } catch (e) {
        throw damaged("bad base64");
      }
    } else {
      if (!B64_RE.test(text)) throw damaged("bad base64");
      if (pad) {
        const last = B64_ALPHABET.indexOf(text[text.length - pad - 1]);
        if (last & (pad === 2 ? 15 : 3)) throw damaged("non-canonical base64");
      }
      const bin = atob(text);
      out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    }
    if (out.length !== want) throw damaged("bad base64");
    return out;
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

  // ------------------------------------------------------------------ text rules

  // Code points, not UTF-16 units (a lone surrogate counts as one, as in Python).
  function codePointsAtMost(s, limit) {
    if (s.length <= limit) return true;
    if (s.length > 2 * limit) return false;
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i++;
      }
      if (++n > limit) return false;
    }
    return true;
  }

  const wellFormed = typeof "".isWellFormed === "function"
    ? (s) => s.isWellFormed()
    : (s) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/.test(s);

  // `YYYY-MM-DDTHH:MM:SSZ` and a real moment (year >= 1, seconds 00-59): what Python's
  // datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ") accepts with the exact pattern.
  // YYYY-MM-DDTHH:MM:SSZ, ASCII digits, a real date (called once per row: no allocation).
  function isoValid(s) {
    if (typeof s !== "string" || s.length !== 20 || s.charCodeAt(4) !== 45 ||
      s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 ||
      s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 90) return false;
    let bad = 0;
    const n = (i) => {
      const c = s.charCodeAt(i) - 48;
      bad |= c < 0 || c > 9 ? 1 : 0;
      return c;
    };
    const y = n(0) * 1000 + n(1) * 100 + n(2) * 10 + n(3);
    const mo = n(5) * 10 + n(6), day = n(8) * 10 + n(9);
    const h = n(11) * 10 + n(12), mi = n(14) * 10 + n(15), se = n(17) * 10 + n(18);
    if (bad || y < 1 || mo < 1 || mo > 12 || day < 1 || h > 23 || mi > 59 || se > 59) {
      return false;
    }
    if (day <= 28) return true;
    const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
    return day <= (mo === 2 ? (leap ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31);
  }

  // The moment in ms, or NaN.
  function isoMs(s) {
    if (!isoValid(s)) return NaN;
    const t = new Date(0);
    t.setUTCFullYear(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10));
    t.setUTCHours(+s.slice(11, 13), +s.slice(14, 16), +s.slice(17, 19), 0);
    return t.getTime();
  }

  // The header's canonical text: what Python's json.dumps(sort_keys=True,
  // separators=(",", ":"), ensure_ascii=True) gives for what Python's json.loads read,
  // then <, > and & as \u003c \u003e \u0026. Numbers keep their source text (JSON.parse
  // source access) so that integers (Python int, exact at any size) and fractions (Python
  // float, written as repr() writes it) are judged as Python would; null means "cannot be
  // canonical".
  class Num {
    constructor(value, source) {
      this.value = value;
      // Without source access (older browsers) only exact integers can be judged.
      this.source = typeof source === "string" ? source
        : Number.isSafeInteger(value) ? String(value) : "?";
      this.isInt = /^-?(?:0|[1-9][0-9]*)$/.test(this.source);
    }
  }
  const reviveNumbers = (key, value, context) =>
    typeof value === "number" ? new Num(value, context && context.source) : value;

  function pyFloatRepr(x) {
    if (!Number.isFinite(x)) return null; // Python writes Infinity: never the source text
    if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
    const [mantissa, exponent] = x.toExponential().split("e"); // shortest round-trip digits
    const sign = mantissa[0] === "-" ? "-" : "";
    const digits = mantissa.replace("-", "").replace(".", "");
    const exp = parseInt(exponent, 10);
    const point = exp + 1; // digits before the decimal point
    let out;
    if (point <= -4 || point > 16) {
      out = digits[0] + (digits.length > 1 ? "." + digits.slice(1) : "") + "e" +
        (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    } else if (point <= 0) {
      out = "0." + "0".repeat(-point) + digits;
    } else if (point >= digits.length) {
      out = digits + "0".repeat(point - digits.length) + ".0";
    } else {
      out = digits.slice(0, point) + "." + digits.slice(point);
    }
    return sign + out;
  }

  const ESC = { 0x22: "\\\"", 0x5c: "\\\\", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r",
    0x09: "\\t", 0x3c: "\\u003c", 0x3e: "\\u003e", 0x26: "\\u0026" };
  function canonString(s) {
    let out = "\"";
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (ESC[c]) out += ESC[c];
      else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).padStart(4, "0"); // DEL too
      else out += s[i];
    }
    return out + "\"";
  }
  function canon(v) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "string") return canonString(v);
    if (v instanceof Num) {
      if (v.isInt) return v.source === "-0" ? "0" : v.source;
      return v.source === "?" ? null : pyFloatRepr(v.value);
    }
    if (Array.isArray(v)) {
      const parts = v.map(canon);
      return parts.includes(null) ? null : "[" + parts.join(",") + "]";
    }
    if (typeof v === "object") {
      // Code point order of the keys (JS sort compares UTF-16 units; the two orders differ
      // only between astral characters and U+E000..U+FFFF).
      const keys = Object.keys(v).sort((a, b) => {
        const x = Array.from(a), y = Array.from(b);
        for (let i = 0; i < Math.min(x.length, y.length); i++) {
          const d = x[i].codePointAt(0) - y[i].codePointAt(0);
          if (d) return d;
        }
        return x.length - y.length;
      });
      const parts = [];
      for (const k of keys) {
        const value = canon(v[k]);
        if (value === null) return null;
        parts.push(canonString(k) + ":" + value);
      }
      return "{" + parts.join(",") + "}";
    }
    return null;
  }

  // An integer header value (a JSON number written without fraction or exponent), or NaN.
  const intOf = (v) => (v instanceof Num && v.isInt ? Number(v.source) : NaN);

  // ------------------------------------------------------------------ the page's elements

  function isExactElement(node, type) {
    return node.tagName === "SCRIPT" && node.attributes.length === 2 &&
      node.attributes[0].name === "type" && node.attributes[0].value === type &&
      node.attributes[1].name === "id";
  }

  // Rule 1: exactly one header and one payload element, exact, in that order, and the two
  // names nowhere else in the page (not in a comment, not in any other text or attribute).
  function findElements() {
    const headers = document.querySelectorAll("[id=\"" + HEADER_ID + "\"]");
    const payloads = document.querySelectorAll("[id=\"" + PAYLOAD_ID + "\"]");
    let elsewhere = 0;
    const mentions = (text) => text.includes(HEADER_ID) || text.includes(PAYLOAD_ID);
    const walk = (root) => {
      const walker = document.createTreeWalker(root,
        NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT | NodeFilter.SHOW_COMMENT);
      // The root (the document, or a template's contents) is a container, never itself
      // an element, text or comment.
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.nodeType === Node.ELEMENT_NODE) {
          const own = node === headers[0] || node === payloads[0];
          for (const attr of node.attributes) {
            if (mentions(attr.value) && !(own && attr.name === "id")) elsewhere++;
          }
          if (node.content && node.content.nodeType === Node.DOCUMENT_FRAGMENT_NODE) {
            walk(node.content);
          }
        } else if (node.nodeType === Node.COMMENT_NODE) {
          if (mentions(node.data)) elsewhere++;
        } else {
          const parent = node.parentNode;
          if (parent !== headers[0] && parent !== payloads[0] && mentions(node.data)) elsewhere++;
        }
      }
    };
    walk(document);
    if (!headers.length && !payloads.length && !elsewhere) {
      throw unsupported("not a Strongroom offline file");
    }
    if (headers.length !== 1 || payloads.length !== 1 || elsewhere) throw damaged("elements");
    const [h, p] = [headers[0], payloads[0]];
    if (!isExactElement(h, HEADER_TYPE) || !isExactElement(p, PAYLOAD_TYPE)) {
      throw damaged("element attributes");
    }
    if (!(h.compareDocumentPosition(p) & Node.DOCUMENT_POSITION_FOLLOWING)) {
      throw damaged("element order");
    }
    return { headerNode: h, payloadNode: p };
  }

  // ------------------------------------------------------------------ the header

  // Rules 2-5. The header text's exact bytes are the associated data of the payload.
  function readHeader() {
    const { headerNode, payloadNode } = findElements();
    const text = headerNode.textContent;
    if (text.length < 1 || text.length > MAX_HEADER || !/^[\x20-\x7e]+$/.test(text)) {
      throw damaged("header characters");
    }
    let h;
    try { h = JSON.parse(text, reviveNumbers); } catch (e) { throw damaged("header is not JSON"); }
    if (!h || typeof h !== "object" || Array.isArray(h)) throw damaged("header is not an object");
    if (canon(h) !== text) throw damaged("header is not in canonical form");
    if (h.format !== FORMAT) throw unsupported("not a Strongroom offline file");
    const version = intOf(h.version);
    if (isNaN(version)) throw damaged("version");
    const v = VERSIONS[version];
    if (!v || version !== 1 && version !== 2 && version !== 3 && version !== 4) {
      throw unsupported("version " + h.version.source);
    }
    const keys = Object.keys(h);
    if (keys.length !== HEADER_KEYS.length || !HEADER_KEYS.every((k) => keys.includes(k))) {
      throw damaged("header keys");
    }
    const it = intOf(h.kdf_iterations);
    if (!(it >= 1 && it <= MAX_ITERATIONS)) throw damaged("iterations");
    const sized = (name, n) => {
      const bytes = fromB64(h[name]);
      if (bytes.length !== n) throw damaged("bad field length");
      return bytes;
    };
    const fields = {
      salt: sized("kdf_salt", 16),
      pub: sized("public_key", 65),
      wrapped: sized("wrapped_private_key", v.wrapped),
      eph: sized("ephemeral_public_key", 65),
      nonce: sized("payload_nonce", 12),
    };
    const generated = isoMs(h.generated_at);
    const expires = h.expires_at === null ? null : isoMs(h.expires_at);
    if (isNaN(generated) || (expires !== null && isNaN(expires))) throw damaged("bad date");
    for (const name of ["title", "owner"]) {
      if (typeof h[name] !== "string" || !codePointsAtMost(h[name], MAX_LABEL_CP) ||
        !wellFormed(h[name])) {
        throw damaged(name);
      }
    }
    return {
      text,
      version,
      iterations: it,
      title: h.title,
      owner: h.owner,
      generatedAt: new Date(generated),
      expiresAt: expires === null ? null : new Date(expires),
      fields,
      payloadNode,
    };
  }

  // ------------------------------------------------------------------ decryption

  // The ciphertext is not secret: split it and decode the first segment while the user
  // types the passphrase. Version 3: base64 segments separated by "."; before, one text.
  // Later segments are decoded as they are decrypted, in order (as `strongroom open` does).
  let cipherCache = null;
  function segmentBytes(parts, index) {
    const bytes = fromB64(parts[index]);
    if (bytes.length < 16) throw damaged("payload too short");
    return bytes;
  }
  function payloadParts() {
    if (!cipherCache) {
      const text = header.payloadNode.textContent;
      const parts = header.version >= 3 ? text.split(".", MAX_SEGMENTS + 1) : [text];
      if (parts.length > MAX_SEGMENTS) throw damaged("too many payload segments");
      cipherCache = { parts, first: segmentBytes(parts, 0) };
    }
    return cipherCache;
  }

  // Segment `index`'s nonce: payload_nonce XOR (7 zero bytes || uint32-be index || last).
  function segmentNonce(nonce, index, last) {
    const out = nonce.slice();
    out[7] ^= index >>> 24;
    out[8] ^= (index >>> 16) & 255;
    out[9] ^= (index >>> 8) & 255;
    out[10] ^= index & 255;
    out[11] ^= last ? 1 : 0;
    return out;
  }

  async function decrypt(header, passphrase) {
    const v = VERSIONS[header.version];
    const { salt, pub, wrapped, eph, nonce } = header.fields;
    const { parts, first: ciphertext } = payloadParts();

    // 1. passphrase -> key-encryption key (PBKDF2-HMAC-SHA256)
    const base = await subtle.importKey("raw", enc.encode(passphrase.normalize("NFC")),
      "PBKDF2", false, ["deriveKey"]);
    const kek = await subtle.deriveKey(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations: header.iterations },
      base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    performance.mark("strongroom:kdf-done");

    // 2. unwrap the copy's private key (version 2: scalar || build key B); a failure means
    //    a wrong passphrase (or edited iterations, salt, public key or wrapped key: all are
    //    in this associated data)
    const wrapAad = concat(enc.encode(v.wrap), uint32be(header.iterations), salt, pub);
    let secret;
    try {
      secret = new Uint8Array(await subtle.decrypt(
        { name: "AES-GCM", iv: wrapped.subarray(0, 12), additionalData: wrapAad },
        kek, wrapped.subarray(12)));
    } catch (e) {
      throw new ViewerError("wrong");
    }
    const scalar = secret.subarray(0, 32);
    const buildKey = secret.subarray(32); // empty for version 1
    let privateKey;
    try {
      // The import checks that the scalar is valid and that its public key is `pub`.
      privateKey = await subtle.importKey("jwk", {
        kty: "EC", crv: "P-256", ext: false, key_ops: ["deriveBits"],
        d: b64url(scalar), x: b64url(pub.subarray(1, 33)), y: b64url(pub.subarray(33, 65)),
      }, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    } catch (e) {
      secret.fill(0);
      throw damaged("private key");
    }

    // 3. ECDH with the build's ephemeral key, HKDF-SHA256 -> content key
    //    (version 2: ikm = shared secret || build key)
    let ephKey;
    try {
      ephKey = await subtle.importKey("raw", eph, { name: "ECDH", namedCurve: "P-256" },
        false, []);
    } catch (e) {
      secret.fill(0);
      throw damaged("ephemeral key");
    }
    const shared = new Uint8Array(
      await subtle.deriveBits({ name: "ECDH", public: ephKey }, privateKey, 256));
    const ikm = concat(shared, buildKey);
    shared.fill(0);
    secret.fill(0);
    const hkdf = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveKey"]);
    ikm.fill(0);
    const contentKey = await subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32),
        info: concat(enc.encode(v.hkdf), eph, pub) },
      hkdf, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);

    // 4. the payload, authenticated together with every byte of the header (version 3:
    //    segment 0 here, the others by loadSegments, each at its index with its last flag)
    const aad = enc.encode(header.text);
    const count = parts.length;
    const openSegment = async (index, bytes) => {
      const iv = header.version >= 3 ? segmentNonce(nonce, index, index === count - 1) : nonce;
      try {
        return new Uint8Array(await subtle.decrypt(
          { name: "AES-GCM", iv, additionalData: aad }, contentKey, bytes));
      } catch (e) {
        throw damaged("payload authentication");
      }
    };
    const gz = await openSegment(0, ciphertext);
    performance.mark("strongroom:decrypted");
    const text = await gunzipAscii(gz);
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw damaged("payload is not JSON");
    }
    performance.mark("strongroom:parsed");
    const data = header.version >= 3 ? layoutV3(doc, text, header.version)
      : header.version === 2 ? layoutV2(doc, text) : layoutV1(doc, text);
    if (loneSurrogate(text)) throw damaged("lone surrogate");
    if (header.version >= 3) {
      data.segments = count;
      data.openSegment = (index) => openSegment(index, segmentBytes(parts, index));
    }
    return data;
  }

  // One later segment of a version 3 or 4 payload: [ROWS], at least one row, each the 13
  // (version 4: 14) values after the name; returned as full rows (name first), checked
  // like version 2 rows (version 4: and the attachment list).
  async function segmentRows(gz, names, at, version) {
    const text = await gunzipAscii(gz);
    let rows;
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw damaged("payload is not JSON");
    }
    if (!Array.isArray(rows) || !rows.length) throw damaged("payload segment");
    if (at + rows.length > names.length) throw damaged("more rows than names");
    const fields = VERSIONS[version].fields;
    withNames(rows, names, at, fields);
    checkRows(rows, version >= 4 ? V4_KINDS : V2_KINDS);
    if (loneSurrogate(text)) throw damaged("lone surrogate");
    return rows;
  }

  // Version 4: one carried attachment's segment [POSITION, NAME, BASE64]: the position
  // (decimal text) and name of the row that lists it, strict base64 of exactly the listed
  // size, whose SHA-256 is the listed one. Returns its bytes.
  async function segmentFile(gz, want) {
    const text = await gunzipAscii(gz);
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw damaged("payload is not JSON");
    }
    if (!Array.isArray(doc) || doc.length !== 3 || doc[0] !== String(want.position) ||
      doc[1] !== want.name || typeof doc[2] !== "string") {
      throw damaged("attachment segment");
    }
    const bytes = fromB64(doc[2]);
    if (bytes.length !== want.size) throw damaged("attachment size");
    const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
    let hex = "";
    for (let i = 0; i < digest.length; i++) hex += (digest[i] + 256).toString(16).slice(1);
    if (hex !== want.sha256) throw damaged("attachment digest");
    return bytes;
  }

  // A row's attachment list (version 4): [[NAME, SIZE, SHA256 or null], ...].
  function badFiles(x) {
    if (!Array.isArray(x) || x.length > MAX_ATTACHMENTS) return true;
    const seen = new Set();
    for (const item of x) {
      if (!Array.isArray(item) || item.length !== 3) return true;
      const [name, size, digest] = item;
      if (!fileNameOk(name) || seen.has(name)) return true;
      seen.add(name);
      if (typeof size !== "string" || !SIZE_RE.test(size) || Number(size) > MAX_ATTACHMENT_BYTES) {
        return true;
      }
      if (digest !== null && (typeof digest !== "string" || !SHA256_RE.test(digest))) return true;
    }
    return false;
  }

  function fileNameOk(name) {
    if (typeof name !== "string" || !wellFormed(name)) return false;
    const points = [...name].length;
    if (points < 1 || points > MAX_ATTACHMENT_NAME) return false;
    if (enc.encode(name).length > MAX_ATTACHMENT_NAME) return false;
    if (name === "." || name === ".." || name.includes("/") || name.includes("\\")) return false;
    return !NAME_SPACE_END.test(name) && !NAME_BAD.test(name);
  }

  function withNames(rows, names, at, fields) {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Array.isArray(r) || r.length !== fields.length - 1) throw damaged("row shape");
      r.unshift(names[at + i]);
    }
  }

  // Rule 8: exactly one gzip member and nothing after it; the decompressed bytes ASCII.
  // Chromium's DecompressionStream fails on trailing bytes, a second member, truncation and
  // a wrong CRC-32 or length; the ISIZE comparison below also holds any engine that would
  // read on into a second member to the same rule (the last member's length would differ).
  // The text is decoded as UTF-8 by the stream itself (the browser's ASCII fast path);
  // ASCII-only then means: no character above U+007F, and exactly as many characters as
  // the gzip trailer says bytes (any multi-byte sequence or replacement would differ).
  const NON_ASCII = /[^\x00-\x7f]/;
  async function gunzipAscii(gz) {
    let text;
    try {
      let total = 0; // stop a gzip bomb at the limit, not after inflating all of it
      const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"))
        .pipeThrough(new TransformStream({
          transform(chunk, controller) {
            total += chunk.byteLength;
            if (total > MAX_PAYLOAD_BYTES) throw new RangeError("payload too long");
            controller.enqueue(chunk);
          },
        }));
      text = await new Response(stream).text();
    } catch (e) {
      throw damaged("payload does not decompress");
    }
    const n = gz.length;
    const isize = n >= 18
      ? (gz[n - 4] | (gz[n - 3] << 8) | (gz[n - 2] << 16) | (gz[n - 1] << 24)) >>> 0 : -1;
    if (NON_ASCII.test(text)) throw damaged("payload is not ASCII");
    if (isize !== text.length >>> 0) throw damaged("gzip length");
    return text;
  }

  // Types and lengths per value; lone surrogates are found in the text (loneSurrogate).
  function badString(s) {
    return typeof s !== "string" || (s.length > MAX_TEXT_CP && !codePointsAtMost(s, MAX_TEXT_CP));
  }

  // Rule 10 on the payload's ASCII JSON text, where a surrogate can only be a \uXXXX escape:
  // a high-surrogate escape not followed at once by a low one, or a low one on its own.
  // "\\ud800" (an escaped backslash, then "ud800") is no escape: the backslashes before a
  // match are counted. One pass over the text instead of a check per string.
  const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g;
  // One pass that can only err towards "look closer": a high escape not followed by a low
  // one, a low one not preceded by a high one, or an escaped backslash before "ud" (where
  // counting backslashes decides). Text without any of these has no lone surrogate.
  const MAYBE_LONE = /\\\\u[dD]|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/;
  function loneSurrogate(text) {
    if (!MAYBE_LONE.test(text)) return false;
    SURROGATE_ESCAPE.lastIndex = 0;
    for (let m = SURROGATE_ESCAPE.exec(text); m; m = SURROGATE_ESCAPE.exec(text)) {
      const at = m.index;
      let slashes = 0;
      for (let k = at - 1; k >= 0 && text.charCodeAt(k) === 92; k--) slashes++;
      if (slashes % 2) { SURROGATE_ESCAPE.lastIndex = at + 1; continue; } // a literal "\\"
      const unit = parseInt(m[0].slice(2), 16);
      if (unit >= 0xdc00) return true; // a low half with no high half before it
      const next = text.slice(at + 6, at + 12);
      if (!/^\\u[dD][c-fC-F][0-9a-fA-F]{2}$/.test(next)) return true;
      SURROGATE_ESCAPE.lastIndex = at + 12;
    }
    return false;
  }

  // Rules 9-10 for the rows of either version: shapes, types, lengths, no lone surrogate.
  // The common case first, column by column without dispatch (100,000 rows are checked
  // before the first paint): strings of at most MAX_TEXT_CP units (so at most as many code
  // points), null or a string TOTP, a valid date or null, custom pairs of short strings.
  // Any row it does not vouch for goes through the exact per-value check below.
  const plain = (x) => typeof x === "string" && x.length <= MAX_TEXT_CP;
  function rowFast(r, width) {
    if (!(plain(r[0]) && plain(r[1]) && plain(r[2]) && plain(r[3]) &&
      plain(r[4]) && plain(r[5]) && plain(r[6]) && plain(r[8]) && plain(r[9]) &&
      plain(r[10]))) return false;
    const t = r[7], u = r[11];
    if (!(t === null || plain(t)) || !(u === null || isoValid(u))) return false;
    if (width === 12) return true;
    if (width === 15 && badFiles(r[14])) return false;
    const c = r[13];
    if (!plain(r[12]) || !Array.isArray(c)) return false;
    for (let k = 0; k < c.length; k++) {
      const pair = c[k];
      if (!Array.isArray(pair) || pair.length !== 2 || !plain(pair[0]) || !plain(pair[1])) {
        return false;
      }
    }
    return true;
  }

  function checkRows(rows, kinds) {
    if (!Array.isArray(rows)) throw damaged("rows");
    const width = kinds.length;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Array.isArray(r) || r.length !== width) throw damaged("row shape");
      if (rowFast(r, width)) continue;
      for (let j = 0; j < width; j++) {
        const x = r[j];
        const kind = kinds[j];
        if (kind === K_STR) {
          if (badString(x)) throw damaged("row value");
        } else if (kind === K_TOTP) {
          if (x !== null && badString(x)) throw damaged("row totp");
        } else if (kind === K_DATE) {
          if (x !== null && !isoValid(x)) throw damaged("row date");
        } else if (kind === K_FILES) {
          if (badFiles(x)) throw damaged("row attachments");
        } else {
          if (!Array.isArray(x)) throw damaged("row custom");
          for (const pair of x) {
            if (!Array.isArray(pair) || pair.length !== 2 || badString(pair[0]) ||
              badString(pair[1])) throw damaged("row custom pair");
          }
        }
      }
    }
  }

  function sameList(a, b) {
    return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
  }

  const colsOf = (fields) => Object.fromEntries(fields.map((name, i) => [name, i]));

  // ["strongroom-offline-payload", 2, FIELDS, ROWS]: no objects anywhere.
  // The format and version are judged by their exact text as well (JSON.parse reads 2.0
  // as 2; the reference reader does not), so both readers answer alike.
  function layoutV2(doc, text) {
    if (!text.startsWith("[\"" + PAYLOAD_FORMAT + "\",2,")) throw damaged("payload layout");
    if (!Array.isArray(doc) || doc.length !== 4 || doc[0] !== PAYLOAD_FORMAT || doc[1] !== 2 ||
      !sameList(doc[2], V2_FIELDS)) throw damaged("payload layout");
    checkRows(doc[3], V2_KINDS);
    return { col: colsOf(V2_FIELDS), rows: doc[3], version: 2 };
  }

  // ["strongroom-offline-payload", 3 or 4, FIELDS, NAMES, ROWS]: every name in list order,
  // then the first rows without their names (the rest follow in later segments).
  function layoutV3(doc, text, version) {
    const fields = VERSIONS[version].fields;
    if (!text.startsWith("[\"" + PAYLOAD_FORMAT + "\"," + version + ",")) {
      throw damaged("payload layout");
    }
    if (!Array.isArray(doc) || doc.length !== 5 || doc[0] !== PAYLOAD_FORMAT ||
      doc[1] !== version || !sameList(doc[2], fields) || !Array.isArray(doc[3]) ||
      !Array.isArray(doc[4])) {
      throw damaged("payload layout");
    }
    const names = doc[3], rows = doc[4];
    for (let i = 0; i < names.length; i++) {
      if (!plain(names[i]) && badString(names[i])) throw damaged("name");
    }
    if (rows.length > names.length) throw damaged("more rows than names");
    withNames(rows, names, 0, fields);
    checkRows(rows, version >= 4 ? V4_KINDS : V2_KINDS);
    return { col: colsOf(fields), rows, names, version };
  }

  // {"format":..., "version":1, "fields":[12 names], "entries":[rows]}, each key once in the
  // text (JSON.parse keeps the last of duplicate keys; rows hold no objects, so counting
  // the key spellings in the text finds duplicates).
  function layoutV1(doc, text) {
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw damaged("payload layout");
    const keys = Object.keys(doc);
    if (keys.length !== 4) throw damaged("payload keys");
    for (const key of ["format", "version", "fields", "entries"]) {
      const needle = "\"" + key + "\":";
      const first = text.indexOf(needle);
      if (first < 0 || text.indexOf(needle, first + 1) >= 0) throw damaged("payload key " + key);
    }
    const after = text.indexOf("\"version\":") + 10;
    if (text[after] !== "1" || (text[after + 1] !== "," && text[after + 1] !== "}")) {
      throw damaged("payload version");
    }
    if (doc.format !== PAYLOAD_FORMAT || doc.version !== 1 || !sameList(doc.fields, V1_FIELDS)) {
      throw damaged("payload layout");
    }
    checkRows(doc.entries, V1_KINDS);
    return { col: colsOf(V1_FIELDS), rows: doc.entries, version: 1 };
  }

  // ------------------------------------------------------------------ TOTP (RFC 6238)

  const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  // 1 to 4 ASCII digits, nothing else ("6_0" is refused, as in the reference reader).
  function smallNumber(text) {
    if (!/^[0-9]{1,4}$/.test(text)) throw new Error("number");
    return parseInt(text, 10);
  }

  function base32(text) {
    const clean = text.replace(/[ \t\n\r\f\v=-]/g, "").toUpperCase();
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
    if (/^otpauth:\/\//i.test(seed)) {
      // Exactly "otpauth://totp/": no user, port or other host (the reference reader's rule).
      if (!/^otpauth:\/\/totp\//i.test(seed)) throw new Error("not TOTP");
      const url = new URL(seed);
      const p = {};
      for (const [k, v] of url.searchParams) p[k.toLowerCase()] = v;
      secret = p.secret || "";
      digits = smallNumber(p.digits || "6");
      period = smallNumber(p.period || "30");
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
      "detail", "detail-body", "detail-close", "lock-now", "toast", "lock-age", "lock-future",
      "lock-v1", "vault-age", "vault-future", "vault-v1"]) {
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
    if (s < 0) return "in the future";
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
    parts.push("made " + fmtDate(header.generatedAt));
    return parts.join(" · ");
  }

  // The copy's age, always shown; a "made" date more than 5 minutes ahead of this
  // device's clock gets its own warning (a wrong clock, or an edited or forged file).
  function ageBanners(age, future, v1) {
    const ahead = header.generatedAt.getTime() - Date.now();
    age.textContent = ahead > FUTURE_SLACK_MS
      ? "Made " + fmtDate(header.generatedAt) + ": in the future"
      : "Made " + ago(header.generatedAt);
    age.hidden = false;
    future.hidden = ahead <= FUTURE_SLACK_MS;
    future.textContent = future.hidden ? "" : "This copy claims to be made in the future (" +
      fmtDate(header.generatedAt) + "). Check this device's clock: if it is right, the file " +
      "may have been tampered with. Get a fresh copy from Strongroom.";
    v1.hidden = header.version !== 1;
    v1.textContent = v1.hidden ? "" : "Version 1 file: not authenticated against forgery. " +
      "Get a fresh copy (re-export).";
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
    ui["unlock-error"].dataset.verdict = VERDICTS[kind] || "damaged";
    document.documentElement.dataset.verdict = VERDICTS[kind] || "damaged";
    ui["unlock-error"].hidden = false;
    if (detail) ui["unlock-error"].title = detail;
  }

  function clearError() {
    ui["unlock-error"].hidden = true;
    ui["unlock-error"].textContent = "";
    delete ui["unlock-error"].dataset.kind;
    delete ui["unlock-error"].dataset.verdict;
    delete document.documentElement.dataset.verdict;
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
      if (data.version >= 3) {
        loadSegments(data, vault);
      } else {
        document.documentElement.dataset.verdict = data.version === 2 ? "ok" : "ok_v1";
      }
    } catch (e) {
      refused(e);
    } finally {
      ui.unlock.textContent = "Unlock";
      if (!ui.passphrase.disabled) ui.unlock.disabled = false;
    }
  }

  function refused(e) {
    const kind = e instanceof ViewerError ? e.kind : "damaged";
    showError(kind, e instanceof ViewerError ? e.detail : String(e));
    if (kind === "wrong") { ui.passphrase.select(); ui.passphrase.focus(); }
    if (kind === "damaged" || kind === "unsupported") {
      disableUnlock();
      // What the header claims (dates, owner) was not authenticated: stop showing it.
      for (const id of ["lock-meta", "lock-expiry", "lock-age", "lock-future", "lock-v1",
        "lock-note"]) {
        ui[id].hidden = true;
      }
    }
  }

  // Version 3: segments 1.. after the first rows are drawn. Up to AHEAD decryptions run at
  // once (Web Crypto works off the main thread); each segment is then gunzipped, parsed,
  // checked and added to the list and the search text, and the page gets the event loop
  // back before the next one. Any failure wipes everything shown and refuses the file, as
  // a failure before the first rows would have (the rows shown came from segment 0, which
  // had authenticated; nothing after a failing segment is ever shown).
  const AHEAD = 4;
  async function loadSegments(data, opened) {
    const names = data.names;
    const pending = [];
    const start = (index) => {
      let p;
      try {
        p = data.openSegment(index);
      } catch (e) {
        p = Promise.reject(e); // a segment that is not base64: judged in order below
      }
      p.catch(() => {});
      return p;
    };
    try {
      for (let i = 1; i < Math.min(data.segments, 1 + AHEAD); i++) pending.push(start(i));
      let wanted = null; // version 4, once every row is in: the carried attachments, in order
      for (let index = 1; index < data.segments; index++) {
        const opening = pending.shift();
        if (index + AHEAD < data.segments) pending.push(start(index + AHEAD));
        const gz = await opening;
        if (vault !== opened) return; // locked meanwhile
        if (data.version >= 4 && opened.rows.length === names.length) {
          if (!wanted) wanted = carried(opened);
          const want = wanted[opened.files.length];
          if (!want) throw damaged("more attachment segments than attachments");
          const bytes = await segmentFile(gz, want);
          if (vault !== opened) return;
          opened.files.push(bytes);
          fileArrived(opened);
          continue;
        }
        const rows = await segmentRows(gz, names, opened.rows.length, data.version);
        if (vault !== opened) return;
        for (let k = 0; k < rows.length; k++) opened.rows.push(rows[k]);
        arrived(opened);
        await nextTask();
        if (vault !== opened) return;
      }
      if (opened.rows.length !== names.length) throw damaged("fewer rows than names");
      if (data.version >= 4) {
        if (!wanted) wanted = carried(opened);
        if (opened.files.length !== wanted.length) throw damaged("missing attachment segments");
      }
    } catch (e) {
      if (vault !== opened) return;
      lock("refused");
      refused(e);
      return;
    }
    opened.loading = false;
    performance.mark("strongroom:all-rows");
    document.documentElement.dataset.verdict = "ok";
    delete document.documentElement.dataset.loading;
    arrived(opened);
  }

  // Version 4: every attachment the rows list with a digest (the copy carries its bytes),
  // in row order then list order; the k-th is in the k-th segment after the rows. Each row's
  // list entry gets its index into vault.files.
  function carried(opened) {
    const out = [];
    const at = opened.col.attachments;
    for (let p = 0; p < opened.rows.length; p++) {
      for (const item of opened.rows[p][at]) {
        if (item[2] !== null) {
          out.push({ position: p, name: item[0], size: Number(item[1]), sha256: item[2] });
        }
      }
    }
    return out;
  }

  // An attachment's bytes are in: refresh an open detail sheet whose Download waits for them.
  function fileArrived(opened) {
    if (selected >= 0 && !ui.detail.hidden && selected < opened.rows.length) {
      for (const b of ui["detail-body"].querySelectorAll("button[data-file-wait]")) {
        const k = Number(b.dataset.fileWait);
        if (k < opened.files.length) {
          b.disabled = false;
          delete b.dataset.fileWait;
          b.textContent = "Download";
        }
      }
    }
  }

  // A macrotask boundary without setTimeout's clamping (a MessageChannel round trip).
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => { const go = waiting.shift(); if (go) go(); };
  function nextTask() {
    return new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });
  }

  // New rows are in: redraw what is on screen (rows drawn from their names only get their
  // details), refresh an open detail sheet that was waiting, and search them (at most a few
  // times a second while loading, so typing keeps its speed).
  function arrived(opened) {
    buildHay(); // the new rows' search text now, a segment at a time, not at a keystroke
    for (const row of pool) row._idx = -1;
    updateCount();
    render();
    if (selected >= 0 && !ui.detail.hidden && opened.detailPending &&
      selected < opened.rows.length) {
      openDetail(selected);
    }
    if (opened.query && !opened.searchTimer) {
      opened.searchTimer = setTimeout(() => {
        opened.searchTimer = 0;
        if (vault === opened) runSearch(false);
      }, opened.loading ? 250 : 0);
    }
  }

  // ------------------------------------------------------------------ unlocked view

  function openVault(data) {
    const n = data.names ? data.names.length : data.rows.length;
    const all = new Int32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    vault = { col: data.col, rows: data.rows, version: data.version, hay: [], results: all,
      query: "", total: n, names: data.names || null, loading: data.version >= 3 &&
        (data.rows.length < n || data.segments > 1), searchedRows: -1, searchTimer: 0,
      detailPending: false, files: [], urls: [] };
    if (vault.loading) document.documentElement.dataset.loading = "1";
    lastActivity = Date.now();
    ui.lock.hidden = true;
    ui.vault.hidden = false;
    document.documentElement.dataset.state = "unlocked";
    ui["vault-title"].textContent = header.title || "Offline copy";
    ui["vault-meta"].textContent = metaLine();
    expiryBanner(ui["vault-expiry"]);
    ageBanners(ui["vault-age"], ui["vault-future"], ui["vault-v1"]);
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
    if (!vault.loading && vault.version >= 3) performance.mark("strongroom:all-rows");
    if (!window.matchMedia("(pointer: coarse)").matches) ui.search.focus();
  }

  // The lower-case search text of every row loaded so far (version 3: rows still on their
  // way are searched by name). Returns true while there is more to do.
  function buildHay(limit) {
    const { col, rows } = vault;
    const parts = vault.hay;
    const end = Math.min(rows.length, parts.length + (limit || rows.length));
    const v2 = vault.version >= 2;
    for (let i = parts.length; i < end; i++) {
      const r = rows[i];
      let s = r[col.name] + "\n" + r[col.username] + "\n" + r[col.host] + "\n" +
        r[col.url] + "\n" + r[col.folder];
      if (v2) {
        s += "\n" + r[col.description];
        const custom = r[col.custom];
        for (let k = 0; k < custom.length; k++) s += "\n" + custom[k][1];
      }
      parts.push(s.toLowerCase());
    }
    return parts.length < rows.length;
  }

  function onSearch() {
    if (vault) runSearch(true);
  }

  // `typed`: the query changed (scroll back to the top); otherwise new rows arrived.
  function runSearch(typed) {
    const t0 = performance.now();
    buildHay();
    const q = ui.search.value.toLowerCase();
    const terms = q.split(/\s+/).filter(Boolean);
    const hay = vault.hay, names = vault.names, total = vault.total;
    const loaded = hay.length;
    // Typing narrows what is already found (unless rows arrived since, which may match
    // more than their names did); anything else scans everything.
    const base = typed && vault.query && q.startsWith(vault.query) && !/\s$/.test(vault.query) &&
      vault.searchedRows === loaded ? vault.results : null;
    let out;
    if (!terms.length) {
      out = new Int32Array(total);
      for (let i = 0; i < out.length; i++) out[i] = i;
    } else {
      const found = [];
      const n = base ? base.length : total;
      outer: for (let k = 0; k < n; k++) {
        const i = base ? base[k] : k;
        const s = i < loaded ? hay[i] : names[i].toLowerCase();
        for (let t = 0; t < terms.length; t++) if (s.indexOf(terms[t]) < 0) continue outer;
        found.push(i);
      }
      out = Int32Array.from(found);
    }
    vault.results = out;
    vault.query = q;
    vault.searchedRows = loaded;
    if (typed) ui.list.scrollTop = 0;
    for (const row of pool) row._idx = -1;
    updateCount();
    render();
    if (typed) performance.measure("strongroom:search", { start: t0, end: performance.now() });
  }

  function updateCount() {
    const total = vault.total, shown = vault.results.length;
    ui.count.textContent = (shown === total
      ? nf.format(total) + (total === 1 ? " entry" : " entries")
      : nf.format(shown) + " of " + nf.format(total)) +
      (vault.loading ? " · decrypting " + Math.floor(100 * vault.rows.length / total) + "%" : "");
    ui.empty.hidden = shown !== 0 || vault.loading;
  }

  // A row not yet decrypted (version 3, still loading): its name only.
  function rowAt(idx) {
    const r = vault.rows[idx];
    if (r) return r;
    return [vault.names[idx], "", "", "", "", "", "", null, "", "", "", null, "", []];
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
    copy.setAttribute("aria-label", "Copy password");
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
      const r = idx < rows.length ? rows[idx] : rowAt(idx);
      const p = row._parts;
      p.name.textContent = r[col.name] || "(no name)";
      const where = r[col.host] || r[col.url];
      p.sub.textContent = [r[col.username], where, r[col.folder]].filter(Boolean).join("  ·  ");
      p.badge.textContent = initial(r[col.name] || "?");
      p.badge.style.setProperty("--hue", String(hue(r[col.name] || "")));
      p.copy.hidden = !r[col.password];
      p.copy.setAttribute("aria-label", "Copy password for " + (r[col.name] || "(no name)"));
    }
  }

  // ------------------------------------------------------------------ detail sheet

  // Bidi controls and invisible characters (C0, DEL, C1, soft hyphen, zero-widths, word
  // joiner, BOM) make a URL look like another: such URLs are never links.
  const SNEAKY_URL = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/;

  function field(label, value, opts) {
    const o = opts || {};
    const wrap = el("div", "field" + (o.cls ? " " + o.cls : ""));
    const lab = el("div", "field-label", label);
    lab.dir = "auto";
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
    const { col } = vault;
    const r = rowAt(idx);
    vault.detailPending = idx >= vault.rows.length;
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
    if (vault.detailPending) {
      const wait = el("div", "field-warning", "Still decrypting this entry: its details " +
        "appear in a moment.");
      wait.setAttribute("role", "status");
      body.appendChild(wait);
    }

    const label = r[col.name] || "(no name)";
    const user = field("Username", r[col.username]);
    if (r[col.username]) {
      action(user.actions, "Copy", () => copy(r[col.username], "Username"))
        .setAttribute("aria-label", "Copy username for " + label);
    }
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
    action(pw.actions, "Copy", () => copy(r[col.password], "Password"), "btn-primary")
      .setAttribute("aria-label", "Copy password for " + label);
    body.appendChild(pw.wrap);

    const seed = r[col.totp];
    if (seed) {
      const t = field("One-time code", "······", { mono: true, cls: "totp" });
      t.val.id = "detail-totp";
      const left = el("span", "totp-left");
      t.val.after(left);
      action(t.actions, "Copy", () => {
        if (t.val.dataset.code) copy(t.val.dataset.code, "Code");
      }).setAttribute("aria-label", "Copy one-time code for " + label);
      body.appendChild(t.wrap);
      startTotp(seed, t.val, left);
    }

    const url = r[col.url];
    if (url) {
      const u = field("URL", url);
      const hidden = SNEAKY_URL.test(url);
      if (hidden) {
        u.wrap.classList.add("url-suspicious");
        const warn = el("div", "field-warning",
          "This URL contains invisible or text-direction characters, so it may not be what " +
          "it looks like: it is shown as text only. Check it before you use it.");
        warn.setAttribute("role", "note");
        u.val.after(warn);
      } else if (/^https?:\/\//i.test(url)) {
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
    if (vault.version >= 2) {
      if (r[col.description]) {
        body.appendChild(field("Description", r[col.description], { cls: "notes description" }).wrap);
      }
      for (const [cLabel, cValue] of r[col.custom]) {
        const c = field(cLabel || "(no label)", cValue, { cls: "custom" });
        if (cValue) {
          action(c.actions, "Copy", () => copy(cValue, cLabel || "Field"))
            .setAttribute("aria-label", "Copy " + (cLabel || "field") + " for " + label);
        }
        body.appendChild(c.wrap);
      }
    }
    if (vault.version >= 4 && r[col.attachments] && r[col.attachments].length) {
      body.appendChild(attachmentsField(idx, r[col.attachments], label));
    }
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

  // The entry's attachments (version 4): name and size, a Download button for each file the
  // copy carries (enabled once its segment is in), "not included in the offline copy" for
  // the others. Names are only ever text and the download attribute; the bytes go to a
  // Blob of type application/octet-stream, so the browser saves and never renders them.
  function attachmentsField(idx, list, label) {
    const f = field("Attachments", "", { cls: "attachments" });
    f.val.textContent = "";
    const ul = el("ul", "files");
    let k = 0; // index into vault.files of this row's first carried file
    for (let p = 0; p < idx; p++) {
      for (const item of vault.rows[p][vault.col.attachments]) if (item[2] !== null) k++;
    }
    for (const [name, size, digest] of list) {
      const li = el("li", "file");
      const nm = el("span", "file-name", name);
      nm.dir = "auto";
      li.append(nm, el("span", "file-size", fmtSize(Number(size))));
      if (digest === null) {
        li.classList.add("file-absent");
        li.appendChild(el("span", "file-note", "not included in the offline copy"));
      } else {
        const index = k++;
        const b = action(li, "Download", () => download(index, name));
        b.setAttribute("aria-label", "Download " + name + " for " + label);
        if (index >= vault.files.length) {
          b.disabled = true;
          b.dataset.fileWait = String(index);
          b.textContent = "Decrypting…";
        }
      }
      ul.appendChild(li);
    }
    f.val.appendChild(ul);
    return f.wrap;
  }

  function fmtSize(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  function download(index, name) {
    if (!vault || index >= vault.files.length) return;
    const url = URL.createObjectURL(new Blob([vault.files[index]],
      { type: "application/octet-stream" }));
    vault.urls.push(url);
    const a = document.createElement("a");
    a.href = url;
    a.setAttribute("download", name);
    a.rel = "noopener";
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    toast("Saving " + name);
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

  // What the viewer last put on the clipboard, until it is cleared or the user replaced it
  // (<html data-clip="held"> meanwhile: a state for tests, never the value).
  let clipWritten = null;
  function setClipWritten(text) {
    clipWritten = text;
    if (text === null) delete document.documentElement.dataset.clip;
    else document.documentElement.dataset.clip = "held";
  }

  async function copy(text, what) {
    try {
      await writeClipboard(text);
    } catch (e) {
      toast("Could not copy: this browser refused access to the clipboard");
      return;
    }
    setClipWritten(text);
    clearTimeout(clipTimer);
    clipTimer = setTimeout(clearClipboard, CLIPBOARD_MS);
    toast(what + " copied. The clipboard is cleared in " + CLIPBOARD_MS / 1000 + " s.");
  }

  async function clearClipboard() {
    clearTimeout(clipTimer);
    clipTimer = 0;
    try {
      await writeClipboard("");
      clipPending = false;
      setClipWritten(null);
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
    for (const url of vault.urls) URL.revokeObjectURL(url);
    vault = null;
    closeDetail();
    for (const row of pool) row.remove();
    pool.length = 0;
    ui.rows.textContent = "";
    ui.spacer.style.height = "0px";
    ui.search.value = "";
    ui.count.textContent = "";
    ui.vault.hidden = true;
    resetPassphrase();
    clearOwnClipboard();
    ui.lock.hidden = false;
    document.documentElement.dataset.state = "locked";
    const notes = {
      idle: "Locked after 5 minutes without activity.",
      hidden: "Locked because you switched away from this page.",
      manual: "Locked.",
      refused: "",
    };
    ui["lock-note"].textContent = notes[reason] || notes.manual;
    ui["lock-note"].hidden = false;
    expiryBanner(ui["lock-expiry"]);
    ageBanners(ui["lock-age"], ui["lock-future"], ui["lock-v1"]);
    if (!document.hidden) ui.passphrase.focus({ preventScroll: true });
  }

  function resetPassphrase() {
    ui.passphrase.value = "";
    ui.passphrase.type = "password";
    ui["pass-show"].textContent = "Show";
    ui["pass-show"].setAttribute("aria-pressed", "false");
  }

  // On lock (and when a clear had to wait for the page to be focused): clear the clipboard
  // if it still holds what the viewer put there. It is only read when reading is already
  // allowed (no permission prompt, no paste pop-up); otherwise it is cleared anyway, as the
  // 30 s timer would.
  async function clearOwnClipboard() {
    if (clipWritten === null) return;
    const mine = clipWritten;
    let current = mine;
    try {
      const status = await navigator.permissions.query({ name: "clipboard-read" });
      if (status.state === "granted") current = await navigator.clipboard.readText();
    } catch (e) {
      current = mine;
    }
    if (clipWritten !== mine) return; // copied again meanwhile: that copy has its own timer
    if (current === mine) {
      await clearClipboard();
    } else {
      setClipWritten(null);
      clearTimeout(clipTimer);
      clipTimer = 0;
    }
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
      showError(kind, e instanceof ViewerError ? e.detail : String(e));
      disableUnlock();
      ui["lock-title"].textContent = "Offline copy";
      document.documentElement.dataset.ready = "1";
      return;
    }
    document.title = (header.title || "Offline copy") + " · Strongroom";
    setTimeout(() => {
      try { payloadParts(); } catch (e) { /* reported when unlocking */ }
    }, 50);
    ui["lock-title"].textContent = header.title || "Offline copy";
    ui["lock-meta"].textContent = metaLine();
    expiryBanner(ui["lock-expiry"]);
    ageBanners(ui["lock-age"], ui["lock-future"], ui["lock-v1"]);

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
        copy(rowAt(row._idx)[vault.col.password], "Password");
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
      else if (clipPending) clearOwnClipboard();
    });
    window.addEventListener("pagehide", () => lock("hidden"));
    window.addEventListener("focus", () => { if (clipPending) clearOwnClipboard(); });
    if (!ui.passphrase.disabled) ui.passphrase.focus();
    document.documentElement.dataset.ready = "1";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
