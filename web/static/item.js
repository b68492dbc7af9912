// The auction room: item facts, a countdown on the server's clock, the live bid feed over
// Socket.IO (same origin, the access_token cookie authenticates the handshake), bidding with
// acks, and after a dropped connection either recovery (the library replays what was missed) or
// catch-up (auth.lastBidId), each said in the connection note.
"use strict";

(function () {
  const A = window.Auction;
  const $ = A.$;

  const itemId = decodeURIComponent((window.location.pathname.match(/^\/items\/([^/]+)\/?$/) || [])[1] || "");

  const room = {
    item: null,          // the item as last known (state event, REST, then kept up to date by bids)
    you: null,           // {id, name} from auction:state
    bids: new Map(),     // bid id -> bid: every bid shown in the feed, once
    lastBid: null,       // the newest bid we have (prices rise strictly, so: the highest)
    closed: null,        // the auction:closed payload once it came
    pending: null,       // {price, clientBidId} of the bid whose ack is awaited
    lastUnanswered: null, // {price, clientBidId} of a bid that timed out (a retry of that price reuses the id)
    socket: null,
    lost: false,         // the connection dropped (not closed by us) and has not come back yet
    missed: 0,           // bids replayed to a recovered socket since the drop
    catchingUp: false,   // reconnected without recovery: the next auction:state fills the gap
  };

  // What the room's socket went through, oldest first: connects (socket id, recovered),
  // disconnects (reason), state loads and bid events (ids, whether they were new to the page).
  // Bounded; the browser tests read it to see how a reconnect went.
  const connectionLog = [];
  A.connectionLog = connectionLog;
  function record(entry) {
    connectionLog.push(Object.assign({ at: Date.now() }, entry));
    if (connectionLog.length > 500) connectionLog.shift();
  }

  // --- status ------------------------------------------------------------------------------
  const STATUS_TEXT = {
    connecting: "connecting…",
    live: "live",
    reconnecting: "reconnecting…",
    offline: "offline",
  };

  function setStatus(state, text) {
    const node = $("[data-testid=connection-status]");
    node.dataset.state = state;
    node.textContent = text || STATUS_TEXT[state] || state;
    updateBidForm();
  }

  // How the last reconnect after a drop went: "reconnected" when the connection state was
  // recovered (the library replayed what was missed), "caught up N missed bids" when a new
  // socket filled the gap from auth.lastBidId. Hidden while the connection is down.
  function connectionNote(kind, missed) {
    const node = $("[data-testid=connection-note]");
    if (!kind) {
      node.hidden = true;
      node.textContent = "";
      delete node.dataset.kind;
      delete node.dataset.missed;
      return;
    }
    const bids = missed === 1 ? "1 missed bid" : missed + " missed bids";
    if (kind === "recovered") node.textContent = missed ? "reconnected, " + bids : "reconnected";
    else node.textContent = missed ? "caught up " + bids : "caught up, no missed bids";
    node.dataset.kind = kind;
    node.dataset.missed = String(missed);
    node.hidden = false;
  }

  function notice(text) {
    const node = $("[data-testid=auction-notice]");
    node.textContent = text || "";
    node.hidden = !text;
  }

  function showBidError(error) {
    const node = $("[data-testid=bid-error]");
    node.textContent = error ? error.message || "The bid was not accepted." : "";
    node.hidden = !error;
    if (error && error.code) node.dataset.code = error.code;
    else delete node.dataset.code;
  }

  // --- the item ----------------------------------------------------------------------------
  function newer(a, b) {   // is bid a newer than bid b?
    if (!b) return true;
    if (a.price !== b.price) return a.price > b.price;
    return compareIds(a.id, b.id) > 0;
  }

  function compareIds(a, b) {  // ids are decimal strings of growing numbers; fall back to text order
    const x = String(a), y = String(b);
    if (/^\d+$/.test(x) && /^\d+$/.test(y) && x.length !== y.length) return x.length - y.length;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function isOpen() {
    return !!room.item && room.item.status === "open" && !room.closed;
  }

  function minimumBid() {
    const item = room.item;
    if (!item) return null;
    return item.highestBidder ? item.currentPrice + item.minIncrement : item.startingPrice;
  }

  function applyItem(item) {
    const known = room.item;
    room.item = Object.assign({}, item);
    // A live bid may have overtaken the state read: keep whichever is newer.
    if (room.lastBid && room.lastBid.price > room.item.currentPrice) {
      room.item.currentPrice = room.lastBid.price;
      room.item.highestBidder = room.lastBid.bidder;
    }
    if (known && known.status === "closed") room.item.status = "closed";
    renderItem();
  }

  function renderItem() {
    const item = room.item;
    if (!item) return;
    document.title = item.title + " – Auctions";
    $("[data-testid=item-title]").textContent = item.title;
    $("[data-testid=item-description]").textContent = item.description || "";
    const hasBids = !!item.highestBidder;
    $("[data-testid=current-price]").textContent = A.formatMoney(hasBids ? item.currentPrice : item.startingPrice);
    const bidder = $("[data-testid=highest-bidder]");
    if (hasBids) {
      const isYou = room.you && item.highestBidder.id === room.you.id;
      bidder.textContent = isYou ? item.highestBidder.name + " (you)" : item.highestBidder.name;
    } else {
      bidder.textContent = "no bids yet";
    }
    $("[data-testid=ends-at]").textContent = (isOpen() ? "Ends " : "Ended ") + A.formatDateTime(item.endsAt);
    const min = minimumBid();
    const input = $("#bid-price");
    if (min !== null) {
      input.min = String(min);
      input.placeholder = isOpen() ? String(min) : "";
      $("[data-testid=min-bid]").textContent = isOpen() ? "Minimum bid: " + A.formatMoney(min) : "Bidding has ended.";
    }
    if (room.closed) {
      const c = room.closed;
      notice(c.winner ? "Closed: " + c.winner.name + " won at " + A.formatMoney(c.price) + "." : "Closed with no bids.");
    } else if (item.status === "closed") {
      notice(item.highestBidder ? "Closed: " + item.highestBidder.name + " won at " + A.formatMoney(item.currentPrice) + "." : "Closed with no bids.");
    }
    tick();
    updateBidForm();
  }

  function updateBidForm() {
    const button = $("[data-testid=bid-submit]");
    const input = $("#bid-price");
    const open = isOpen();
    input.disabled = !open;
    button.disabled = !open || !!room.pending;
  }

  // --- countdown (server time) ---------------------------------------------------------------
  function tick() {
    const node = $("[data-testid=countdown]");
    const label = $("[data-testid=countdown-label]");
    const item = room.item;
    if (!item) return;
    if (!isOpen()) {
      label.textContent = "Status";
      node.textContent = "closed";
      node.dataset.state = "closed";
      return;
    }
    const left = Date.parse(item.endsAt) - A.serverNow();
    label.textContent = "Ends in";
    if (left <= 0) {
      node.textContent = "closing…";
      node.dataset.state = "closing";
    } else {
      node.textContent = A.formatDuration(left);
      node.dataset.state = Math.floor(left / 1000) <= 30 ? "ending" : "open";  // the last 30 s shown
    }
  }

  // --- the feed ----------------------------------------------------------------------------
  function bidText(bid, mine) {   // the server's wording, for bids that come in auction:state
    return mine ? "You bid " + bid.price : bid.bidder.name + ": " + bid.price;
  }

  // Adds a bid to the feed unless it is there already (state and live events may overlap).
  function addBid(bid, mine, text, receivedAt) {
    if (!bid || bid.id === undefined || bid.id === null) return false;
    const id = String(bid.id);
    if (room.bids.has(id)) return false;
    room.bids.set(id, bid);
    if (receivedAt) A.noteServerAtLeast(bid.createdAt, receivedAt);

    const li = A.el("li", {
      "data-mine": mine ? "true" : "false",
      "data-bid-id": id,
      "data-price": bid.price,
      "data-time": A.formatTime(bid.createdAt),
      title: bid.bidder.name + " · " + A.formatMoney(bid.price) + " · " + A.formatDateTime(bid.createdAt),
      text: typeof text === "string" && text ? text : bidText(bid, mine),
    });
    // Newest first: before the first entry that is older than this one.
    const feed = $("[data-testid=bid-feed]");
    let before = null;
    for (const other of feed.children) {
      const o = room.bids.get(other.dataset.bidId);
      if (o && newer(bid, o)) { before = other; break; }
    }
    feed.insertBefore(li, before);
    $("[data-testid=bid-feed-empty]").hidden = true;

    if (newer(bid, room.lastBid)) {
      room.lastBid = bid;
      if (room.item && bid.price >= room.item.currentPrice) {
        room.item.currentPrice = bid.price;
        room.item.highestBidder = bid.bidder;
      }
    }
    return true;
  }

  // --- Socket.IO ---------------------------------------------------------------------------
  let lastMeCheck = 0;

  async function checkSignedIn() {
    const now = Date.now();
    if (now - lastMeCheck < 5000) return;
    lastMeCheck = now;
    // Only a definite "not signed in" ends the room: while the server cannot be reached at all
    // (status 0) the client keeps retrying, and the sign-in is still good when it comes back.
    const me = await A.api("GET", "/auth/me");
    if (me.status !== 401) return;
    const user = await A.loadMe();  // renews the access token when the refresh cookie still can
    if (!user && room.socket) {
      room.socket.disconnect();
      signInNeeded();
    }
  }

  function signInNeeded() {
    setStatus("offline", "signed out");
    $("[data-testid=signin-link]").href = "/?next=" + encodeURIComponent(window.location.pathname);
    $("[data-testid=signin-needed]").hidden = false;
    $("[data-testid=bid-section]").hidden = true;
  }

  function connect() {
    if (typeof window.io !== "function") {
      setStatus("offline", "offline (the Socket.IO client did not load)");
      return;
    }
    const socket = window.io({
      // A function, so every reconnect sends the newest bid we have and gets what it missed.
      auth: (cb) => cb(room.lastBid ? { itemId, lastBidId: String(room.lastBid.id) } : { itemId }),
      withCredentials: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 10000,
    });
    room.socket = socket;

    // A recovered socket gets what it missed before this fires (the library replays it ahead of
    // `connect`, already with `recovered` set) and no auction:state; a new one gets the state.
    socket.on("connect", () => {
      room.renewingSocket = false;
      const recovered = socket.recovered === true;
      record({ type: "connect", id: socket.id, recovered });
      if (room.lost) {
        room.lost = false;
        if (recovered) connectionNote("recovered", room.missed);
        else room.catchingUp = true;
      }
      setStatus("live");
    });

    socket.on("disconnect", (reason) => {
      record({ type: "disconnect", reason });
      if (reason !== "io client disconnect") {
        room.lost = true;
        room.missed = 0;
        room.catchingUp = false;
        connectionNote(null);
      }
      if (reason === "io client disconnect" && room.renewingSocket) {
        setStatus("reconnecting");
        return;
      }
      if (reason === "io client disconnect") {
        setStatus("offline");
        return;
      }
      setStatus("reconnecting");
      // The server closed this session (it is shutting down, say): the client does not retry
      // by itself in that case, so do it — the balancer sends us to another instance.
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 300 + Math.random() * 700);
    });

    socket.io.on("reconnect_attempt", () => setStatus("reconnecting"));

    socket.on("connect_error", (err) => {
      const code = err && err.data && err.data.code;
      if (code === "ITEM_NOT_FOUND") {
        setStatus("offline");
        notice("There is no such auction.");
        return;
      }
      setStatus("reconnecting");
      if (!socket.active) {
        // Refused by the namespace (e.g. storage unavailable): the client leaves retrying to us.
        setTimeout(() => socket.connect(), 2000);
      } else {
        // The handshake itself failed (403 when the sign-in expired, or the network).
        checkSignedIn();
      }
    });

    socket.on("auction:state", (state) => {
      const receivedAt = Date.now();
      if (state && state.you) room.you = state.you;
      const bids = (state && Array.isArray(state.recentBids)) ? state.recentBids : [];
      let added = 0;
      for (const bid of bids) {
        const mine = !!(room.you && bid.bidder && bid.bidder.id === room.you.id);
        if (addBid(bid, mine, null, receivedAt)) added += 1;
      }
      record({ type: "state", bids: bids.map((bid) => String(bid && bid.id)), added });
      if (room.catchingUp) {
        room.catchingUp = false;
        connectionNote("caught-up", added);
      }
      if (state && state.item) applyItem(state.item);
      else renderItem();
    });

    socket.on("bid", (event) => {
      if (!event || !event.bid) return;
      const added = addBid(event.bid, event.mine === true, event.text, Date.now());
      record({ type: "bid", id: String(event.bid.id), added });
      if (added && room.lost) room.missed += 1;  // replayed to a socket being recovered
      renderItem();
    });

    socket.on("auction:extended", (event) => {
      if (!event || !room.item) return;
      room.item.endsAt = event.endsAt;
      renderItem();
      notice("A late bid extended the auction to " + A.formatTime(event.endsAt) + ".");
    });

    socket.on("auction:closed", (event) => {
      room.closed = event || {};
      if (room.item) {
        room.item.status = "closed";
        if (event && event.winner) {
          room.item.highestBidder = event.winner;
          room.item.currentPrice = event.price;
        }
      }
      room.pending = null;
      renderItem();
    });

    socket.on("auction:error", (event) => {
      notice((event && event.message) || "The auction state could not be loaded.");
    });
  }

  // --- bidding -----------------------------------------------------------------------------
  function wireBidForm() {
    const form = $("#bid-form");
    const input = $("#bid-price");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const socket = room.socket;
      const text = String(input.value).trim();
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) <= 0) {
        showBidError({ code: "INVALID_INPUT", message: "Enter a whole amount greater than zero." });
        return;
      }
      const price = Number(text);
      // While the socket reconnects with a renewed token, the client holds the bid and sends it
      // once connected.
      if (!socket || (!socket.connected && !room.renewingSocket)) {
        showBidError({ code: "OFFLINE", message: "Not connected right now: wait until the status shows live, then bid again." });
        return;
      }
      // A retry of the same amount after an unanswered bid reuses its id, so it counts once.
      const retry = room.lastUnanswered && room.lastUnanswered.price === price;
      const clientBidId = retry ? room.lastUnanswered.clientBidId : A.randomId();
      room.lastUnanswered = null;
      room.pending = { price, clientBidId };
      showBidError(null);
      updateBidForm();
      socket.timeout(10000).emit("bid", { itemId, price, clientBidId }, (err, ack) => {
        room.pending = null;
        updateBidForm();
        if (room.socketNeedsRenewal) reconnectWithRenewedToken();
        if (err) {
          room.lastUnanswered = { price, clientBidId };
          showBidError({ code: "TIMEOUT", message: "No answer from the server. Bid the same amount again to retry; it will count only once." });
          return;
        }
        if (ack && ack.ok) {
          showBidError(null);
          if (String(input.value).trim() === text) input.value = "";
          // The `bid` event normally arrives with the ack; should it be late, show the bid anyway.
          const bid = ack.bid;
          setTimeout(() => { if (addBid(bid, true, null, null)) renderItem(); }, 3000);
          input.focus();
          return;
        }
        const error = (ack && ack.error) || { message: "The bid was not accepted." };
        showBidError(error);
        if (error.code === "UNAUTHORIZED") {
          // The access token expired while the page was open: offer to sign in again.
          $("[data-testid=signin-link]").href = "/?next=" + encodeURIComponent(window.location.pathname);
          $("[data-testid=signin-needed]").hidden = false;
        }
      });
    });
  }

  // A socket keeps the token it connected with: after each renewal it reconnects with the new
  // one (auth.lastBidId fills in what it missed), once no bid of ours awaits its answer.
  function reconnectWithRenewedToken() {
    const socket = room.socket;
    room.socketNeedsRenewal = false;
    if (!socket || !socket.connected) return;
    if (room.pending) {
      room.socketNeedsRenewal = true;
      return;
    }
    room.renewingSocket = true;
    socket.disconnect();
    socket.connect();
  }

  // --- start -------------------------------------------------------------------------------
  async function start() {
    A.wireSignOut();
    wireBidForm();
    setInterval(tick, 250);
    // Clock samples for the countdown (the HTTP Date header), now and then.
    setInterval(() => { A.api("GET", "/healthz"); }, 60000);

    if (!itemId) {
      $("[data-testid=item-title]").textContent = "No such auction";
      setStatus("offline");
      return;
    }
    const [user, res] = await Promise.all([A.loadMe(), A.api("GET", "/items/" + encodeURIComponent(itemId))]);
    if (res.status === 404) {
      $("[data-testid=item-title]").textContent = "No such auction";
      $("[data-testid=bid-section]").hidden = true;
      setStatus("offline");
      return;
    }
    if (res.ok && res.data && !room.item) applyItem(res.data);
    if (!user) {
      signInNeeded();
      return;
    }
    // Renewed now, the token's life is known and the next renewal scheduled.
    await A.renew();
    A.onRenewed(reconnectWithRenewedToken);
    connect();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
