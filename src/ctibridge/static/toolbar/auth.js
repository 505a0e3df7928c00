// The hub token of this browser tab (docs/protocol.md §1), for the toolbar and the bridge page.
//
// A link made by `ctibridge token create ... --url` carries the token in the URL fragment
// (`/agent/agent1#token=...`): a fragment is never sent to the server, so the token is in no
// request line and no log.  It is kept for this tab in sessionStorage and removed from the
// address bar (history, bookmarks, screen shares).  A page without one, or whose token the hub
// refused, asks for one with a small form (`ask`).  Pages use `window.ctibridgeAuth`.
"use strict";

(function () {
  const KEY = "ctibridge.token";
  let memory = null; // when sessionStorage is unavailable (privacy modes)

  function store(value) {
    memory = value;
    try {
      if (value === null) sessionStorage.removeItem(KEY);
      else sessionStorage.setItem(KEY, value);
    } catch (_) { /* kept in memory only */ }
  }

  function token() {
    try {
      return sessionStorage.getItem(KEY) || memory;
    } catch (_) {
      return memory;
    }
  }

  // #token=... -> sessionStorage; the rest of the fragment stays
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token");
  if (given !== null) {
    fragment.delete("token");
    if (given) store(given);
    const rest = fragment.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }

  /** `init` for fetch with the token as a Bearer header (HTTP takes no ?token=). */
  function headers(extra) {
    const value = token();
    return value ? { ...(extra || {}), Authorization: `Bearer ${value}` } : { ...(extra || {}) };
  }

  /** Show the paste-a-token form (why: `reason`); `done()` runs once a token was entered. */
  function ask(reason, done) {
    let form = document.getElementById("token-form");
    if (!form) {
      form = document.createElement("form");
      form.id = "token-form";
      form.className = "token-form panel";
      form.setAttribute("aria-labelledby", "token-title");
      form.innerHTML =
        '<h2 id="token-title">Token needed</h2>' +
        '<p id="token-reason" role="alert"></p>' +
        '<p>Paste the token from <code>ctibridge token create</code> (or open the link it prints with <code>--url</code>).</p>' +
        '<label for="token-input">Token</label> ' +
        '<input id="token-input" name="token" type="password" autocomplete="off" spellcheck="false" required> ' +
        '<button type="submit">Use token</button>';
      document.body.prepend(form);
    }
    form.querySelector("#token-reason").textContent = reason;
    form.hidden = false;
    const input = /** @type {HTMLInputElement} */ (form.querySelector("#token-input"));
    input.value = "";
    input.focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      store(value);
      input.value = "";
      form.hidden = true;
      done();
    };
  }

  /** The subprotocols that carry the token on a WebSocket (a browser cannot set headers, and a
   *  URL's query would put the token in request lines): pass to `new WebSocket(url, ...)`. */
  function protocols() {
    const value = token();
    return value ? ["ctibridge", `ctibridge.token.${value}`] : [];
  }

  window.ctibridgeAuth = { token, headers, protocols, ask, forget: () => store(null) };
})();
