// The start page: sign in, register, the list of auctions, starting an auction.
"use strict";

(function () {
  const A = window.Auction;
  const $ = A.$;

  function showError(testid, error) {
    const node = $("[data-testid=" + testid + "]");
    if (!node) return;
    node.textContent = error ? error.message || String(error) : "";
    node.hidden = !error;
    if (error && error.code) node.dataset.code = error.code;
    else delete node.dataset.code;
  }

  // Only a path on this site (no scheme, no "//host"): where to go after signing in.
  function nextPath() {
    const next = new URLSearchParams(window.location.search).get("next");
    if (next && /^\/(?!\/)[^\s\\]*$/.test(next)) return next;
    return null;
  }

  function setSignedIn(user) {
    A.show($("#signin"), !user);
    A.show($("#register"), !user);
    A.show($("#create"), !!user);
  }

  async function refreshMe() {
    const user = await A.loadMe();
    setSignedIn(user);
    return user;
  }

  // --- the list ----------------------------------------------------------------------------
  function renderItem(item) {
    const open = item.status === "open";
    const price = item.highestBidder ? item.currentPrice : item.startingPrice;
    const li = A.el("li", { className: "auction" + (open ? "" : " closed"), "data-item-id": item.id });
    const link = A.el("a", { href: "/items/" + encodeURIComponent(item.id), className: "auction-title", text: item.title });
    const meta = A.el("div", { className: "auction-meta" },
      A.el("span", { className: "price", text: A.formatMoney(price) }),
      A.el("span", { className: "muted", text: item.highestBidder ? " · " + item.highestBidder.name + " leads" : " · no bids yet" }),
    );
    const when = A.el("div", { className: "auction-when muted" },
      A.el("span", { className: "badge " + (open ? "open" : "closed"), text: open ? "open" : "closed" }),
      " ",
      A.el("span", { text: (open ? "ends " : "ended ") + A.formatDateTime(item.endsAt) }),
    );
    li.append(link, meta, when);
    return li;
  }

  async function loadList() {
    const status = $("[data-testid=auction-list-status]");
    const list = $("[data-testid=auction-list]");
    const res = await A.api("GET", "/items");
    if (!res.ok || !Array.isArray(res.data)) {
      status.textContent = "The auctions could not be loaded: " + (res.error ? res.error.message : "unknown error");
      status.hidden = false;
      return;
    }
    list.replaceChildren(...res.data.map(renderItem));
    status.textContent = res.data.length ? "" : "No auctions yet.";
    status.hidden = res.data.length > 0;
  }

  // --- forms -------------------------------------------------------------------------------
  async function signIn(email, password) {
    const res = await A.api("POST", "/auth/login", { email, password });
    if (!res.ok) return res.error;
    const next = nextPath();
    if (next) {
      window.location.assign(next);
      return null;
    }
    await refreshMe();
    return null;
  }

  function wireSignIn() {
    const form = $("#signin-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const email = form.elements.email.value.trim();
      const password = form.elements.password.value;
      if (!email || !password) {
        showError("signin-error", { message: "Enter your email and password." });
        return;
      }
      button.disabled = true;
      showError("signin-error", null);
      const error = await signIn(email, password);
      button.disabled = false;
      if (error) {
        showError("signin-error", error);
      } else {
        form.reset();
      }
    });
  }

  function wireRegister() {
    const form = $("#register-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const name = form.elements.name.value.trim();
      const email = form.elements.email.value.trim();
      const password = form.elements.password.value;
      if (!name || !email || password.length < 8) {
        showError("register-error", { message: "Enter a name, an email and a password of at least 8 characters." });
        return;
      }
      button.disabled = true;
      showError("register-error", null);
      const res = await A.api("POST", "/auth/register", { email, name, password });
      let error = res.ok ? null : res.error;
      if (!error) error = await signIn(email, password);
      button.disabled = false;
      if (error) showError("register-error", error);
      else form.reset();
    });
  }

  function wholeNumber(value) {
    const text = String(value).trim();
    if (!/^\d+$/.test(text)) return null;
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : null;
  }

  function wireCreate() {
    const form = $("#create-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const title = form.elements.title.value.trim();
      const description = form.elements.description.value.trim();
      const startingPrice = wholeNumber(form.elements.startingPrice.value);
      const minIncrement = wholeNumber(form.elements.minIncrement.value);
      const minutes = wholeNumber(form.elements.durationMinutes.value);
      if (!title) return showError("create-error", { message: "Give the auction a title." });
      if (!startingPrice || !minIncrement) {
        return showError("create-error", { message: "Prices must be whole numbers greater than zero." });
      }
      if (!minutes) return showError("create-error", { message: "The auction must run for at least one minute." });
      button.disabled = true;
      showError("create-error", null);
      const endsAt = A.rfc3339(A.serverNow() + minutes * 60000);
      const res = await A.api("POST", "/items", { title, description, startingPrice, minIncrement, endsAt });
      button.disabled = false;
      if (!res.ok) {
        if (res.status === 401) await refreshMe();
        return showError("create-error", res.error);
      }
      window.location.assign("/items/" + encodeURIComponent(res.data.id));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    A.wireSignOut();
    wireSignIn();
    wireRegister();
    wireCreate();
    $("[data-testid=refresh-list]").addEventListener("click", loadList);
    refreshMe();
    loadList();
  });
})();
