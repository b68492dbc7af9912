// Shared helpers of the auction pages: JSON calls to the REST API, the server clock, money and
// time formatting, the signed-in header. Plain browser JavaScript, no build step.
"use strict";

(function () {
  const Auction = {};

  // --- the server clock -------------------------------------------------------------------
  // Every REST response carries an HTTP `Date` header (whole seconds). A response received at
  // local time r for a request sent at local time s was stamped somewhere in [s, r], so the
  // offset (server - local) lies in [D - r, D + 1000 - s]. Intersecting those intervals over
  // a few responses pins the offset down to well under a second; the estimate is the middle.
  const clock = { low: -Infinity, high: Infinity, samples: 0 };

  Auction.noteServerDate = function (dateHeader, sentAt, receivedAt) {
    const stamped = Date.parse(dateHeader || "");
    if (!Number.isFinite(stamped)) return;
    let low = stamped - receivedAt;
    let high = stamped + 1000 - sentAt;
    if (Math.max(low, clock.low) > Math.min(high, clock.high)) {
      // Inconsistent with what we had (the local clock jumped): start over from this sample.
      clock.low = low;
      clock.high = high;
    } else {
      clock.low = Math.max(low, clock.low);
      clock.high = Math.min(high, clock.high);
    }
    clock.samples += 1;
  };

  // A time the server had already reached when we got it (a bid's createdAt): a lower bound.
  Auction.noteServerAtLeast = function (isoTime, receivedAt) {
    const t = Date.parse(isoTime || "");
    if (!Number.isFinite(t)) return;
    const low = t - receivedAt;
    if (low > clock.low && low <= clock.high) clock.low = low;
  };

  Auction.serverOffset = function () {
    if (!Number.isFinite(clock.low) || !Number.isFinite(clock.high)) return 0;
    return (clock.low + clock.high) / 2;
  };

  Auction.serverNow = function () {
    return Date.now() + Auction.serverOffset();
  };

  // --- REST ------------------------------------------------------------------------------
  // Resolves to {status, ok, data, error}; never rejects (a network failure is status 0).
  Auction.api = async function (method, path, body) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const sentAt = Date.now();
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { status: 0, ok: false, data: null, error: { code: "NETWORK", message: "The server cannot be reached." } };
    }
    Auction.noteServerDate(response.headers.get("Date"), sentAt, Date.now());
    let data = null;
    const text = await response.text().catch(() => "");
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    const error = response.ok
      ? null
      : (data && data.error) || { code: "HTTP_" + response.status, message: "The server answered " + response.status + "." };
    return { status: response.status, ok: response.ok, data, error };
  };

  // --- formatting --------------------------------------------------------------------------
  const money = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  Auction.formatMoney = function (amount) {
    const n = Number(amount);
    return Number.isFinite(n) ? money.format(n) : "–";
  };

  // "2d 03:04:05", "1:02:03", "04:05"
  Auction.formatDuration = function (ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const two = (x) => String(x).padStart(2, "0");
    if (d > 0) return d + "d " + two(h) + ":" + two(m) + ":" + two(s);
    if (h > 0) return h + ":" + two(m) + ":" + two(s);
    return two(m) + ":" + two(s);
  };

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  Auction.formatTime = (iso) => { const t = Date.parse(iso); return Number.isFinite(t) ? timeFormat.format(t) : ""; };
  Auction.formatDateTime = (iso) => { const t = Date.parse(iso); return Number.isFinite(t) ? dateTimeFormat.format(t) : ""; };

  // RFC 3339 UTC without fractional seconds: "2025-01-02T03:04:05Z".
  Auction.rfc3339 = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

  // A fresh random id (crypto.randomUUID needs a secure context; getRandomValues does not).
  Auction.randomId = function () {
    if (window.crypto && typeof window.crypto.randomUUID === "function" && window.isSecureContext) {
      return window.crypto.randomUUID();
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  };

  // --- small DOM helpers -------------------------------------------------------------------
  Auction.$ = (selector, root) => (root || document).querySelector(selector);

  Auction.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  };

  Auction.show = (node, visible) => { if (node) node.hidden = !visible; };

  // --- staying signed in -------------------------------------------------------------------
  // The access token lives minutes (expiresIn); the refresh cookie (HttpOnly, sent to /auth only)
  // renews it at POST /auth/refresh, which also hands out the next refresh cookie. A page renews
  // when it opens and then at half of each token's life, so a tab open for hours stays signed
  // in; `onRenewed` listeners (the room's socket) pick up the new token. Two tabs renewing at the
  // same moment both succeed (the server answers the just-spent token with the current one).
  const renewedListeners = [];
  let renewTimer = null;
  let renewing = null;

  // `signed_in` (readable, nothing secret) is set beside the refresh cookie: without it there is
  // nothing to renew, and the request is not made.
  const hasSignIn = () => /(?:^|;\s*)signed_in=1(?:;|$)/.test(document.cookie);

  Auction.renew = function () {
    if (!hasSignIn()) return Promise.resolve(false);
    if (!renewing) {
      renewing = Auction.api("POST", "/auth/refresh").then((res) => {
        renewing = null;
        clearTimeout(renewTimer);
        if (!res.ok || !res.data) return false;
        const lifetime = Math.max(Number(res.data.expiresIn) || 0, 2);
        renewTimer = setTimeout(Auction.renew, lifetime * 500);
        for (const listener of renewedListeners) listener();
        return true;
      });
    }
    return renewing;
  };

  Auction.onRenewed = function (listener) {
    renewedListeners.push(listener);
  };

  // --- the signed-in header ----------------------------------------------------------------
  // Fills [data-testid=whoami] and wires the sign-out button; resolves to the user or null.
  // Renews the access token first when it is missing or expired.
  Auction.loadMe = async function () {
    let me = await Auction.api("GET", "/auth/me");
    if (me.status === 401 && (await Auction.renew())) me = await Auction.api("GET", "/auth/me");
    const user = me.ok && me.data && me.data.user ? me.data.user : null;
    const who = Auction.$("[data-testid=whoami]");
    const signOut = Auction.$("[data-testid=sign-out]");
    if (who) who.textContent = user ? "Signed in as " + user.name : "Not signed in";
    Auction.show(signOut, !!user);
    return user;
  };

  Auction.wireSignOut = function () {
    const signOut = Auction.$("[data-testid=sign-out]");
    if (!signOut) return;
    signOut.addEventListener("click", async () => {
      signOut.disabled = true;
      await Auction.api("POST", "/auth/logout");
      window.location.assign("/");
    });
  };

  window.Auction = Auction;
})();
