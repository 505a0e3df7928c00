// @ts-check
/**
 * The ctibridge bridge: runs the agent's CCP with amazon-connect-streams and links it to the hub.
 *
 * (a) On every Streams agent refresh it sends the agent snapshot (state, availability, next
 *     state, contacts with their connections, attributes, queue, timestamps) to the hub.
 * (b) It carries out the hub's commands with the Streams calls and reports each result; a
 *     successful command is reported after the snapshot that shows its effect (or after
 *     `settleMs`), so the events it causes reach the apps before its answer.
 *
 * Every Streams call here is type-checked against the package's own type definitions
 * (`make lint` runs `tsc` with checkJs): a call Streams does not declare fails the build.
 * The wire format is ctibridge/backends/streams/wire.py.
 */
"use strict";

(function () {
  /**
   * @typedef {{agent: string, ccpUrl: string, region: string, wsPath: string,
   *   heartbeatMs: number, settleMs: number, loginUrl: string, storageAccess: boolean,
   *   ccpLoadTimeoutMs: number, offlineState: string}} Settings
   * @typedef {{label: string, code: string, type: string}} StateRef
   * @typedef {{kind: string, value: string}} EndpointRef
   * @typedef {{type: string, contact_id: string, connection_id: string, digits: string,
   *   muted: boolean, state: StateRef, endpoint: EndpointRef | null,
   *   queue: string | null}} Action
   * @typedef {{success: () => void, failure: (err: unknown) => void}} Callbacks
   * @typedef {(action: Action, callbacks: Callbacks) => void} Handler
   */

  const settingsElement = document.getElementById("ctibridge-settings");
  /** @type {Settings} */
  const settings = JSON.parse((settingsElement && settingsElement.textContent) || "{}");

  /** @type {connect.Agent | null} */
  let agent = null;
  let muted = false;
  /** @type {WebSocket | null} */
  let socket = null;
  let lastKey = "";
  let retryMs = 500;
  let leaving = false; // the page is closing: no reconnecting
  /** @type {Window | null} */
  let loginWindow = null;
  /** @type {Array<() => void>} */
  let changeWaiters = [];
  /** @type {Array<(muted: boolean) => void>} */
  let muteWaiters = [];
  /** @type {connect.Endpoint[]} */
  let endpoints = [];
  // a command made of several Streams calls (a blind transfer) is published as one change
  let composite = false;

  // --- status shown on the page -----------------------------------------------------------------

  /** @param {string} id @param {string} text */
  function show(id, text) {
    const element = document.getElementById(id);
    if (element) element.textContent = text;
  }

  // --- snapshot: snapshot.js (ctibridgeSnapshot) ----------------------------------------------

  /** @param {object} message */
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  /**
   * Send the snapshot if it changed (or always, with `force`).
   * @param {boolean} force
   * @returns {boolean} whether a changed snapshot was sent
   */
  function publish(force) {
    if (!agent || (composite && !force)) return false;
    const snapshot = ctibridgeSnapshot.snapshotOf(agent, muted);
    const key = JSON.stringify(snapshot);
    const changed = key !== lastKey;
    if (!changed && !force) return false;
    lastKey = key;
    send({ type: "snapshot", snapshot: Object.assign(snapshot, { snapshotTimestamp: Date.now() }) });
    show("status-state", snapshot.state.name);
    if (changed) {
      const waiters = changeWaiters;
      changeWaiters = [];
      waiters.forEach((resume) => resume());
    }
    return changed;
  }

  function sendDirectory() {
    if (!agent) return;
    const profile = agent.getRoutingProfile();
    send({
      type: "directory",
      states: agent.getAgentStates().map(ctibridgeSnapshot.definitionOf),
      queues: (profile ? profile.queues : []).map((q) => ({ name: q.name, type: "queue" })),
      endpoints: endpoints.map((e) => ({ name: e.name, type: e.type })),
    });
  }

  function loadEndpoints() {
    if (!agent) return;
    agent.getEndpoints(agent.getAllQueueARNs(), {
      success: (data) => {
        endpoints = data.endpoints || [];
        sendDirectory();
      },
      failure: () => sendDirectory(),
    });
  }

  // --- commands -----------------------------------------------------------------------------------

  /** @param {unknown} err @returns {string} */
  function describe(err) {
    if (typeof err === "string") {
      // the CCP's worker sends a failed request's error as JSON text ({type, message, ...})
      if (err.startsWith("{")) {
        try {
          return describe(JSON.parse(err));
        } catch (_) {
          return err;
        }
      }
      return err || "failed";
    }
    if (err && typeof err === "object") {
      // the provider's errors (engagePreviewContact) are ConnectErrors: errorKey and reason
      const c = /** @type {{errorKey?: unknown, reason?: unknown}} */ (err);
      if (c.errorKey) return String(c.errorKey) + (c.reason ? ": " + String(c.reason) : "");
      const e = /** @type {{type?: unknown, errorType?: unknown, message?: unknown}} */ (err);
      const type = e.type || e.errorType;
      if (type && e.message) return String(type) + ": " + String(e.message);
      if (e.message) return String(e.message);
      if (type) return String(type);
      return JSON.stringify(err);
    }
    return String(err);
  }

  /** @returns {connect.Agent} */
  function currentAgent() {
    if (!agent) throw new Error("the CCP is not ready");
    return agent;
  }

  /** @param {string} contactId @returns {connect.Contact} */
  function contactById(contactId) {
    const found = currentAgent()
      .getContacts()
      .find((c) => c.getContactId() === contactId);
    if (!found) throw new Error("ResourceNotFoundException: contact " + contactId + " not found");
    return found;
  }

  /** @param {string} contactId @param {string} connectionId @returns {connect.BaseConnection} */
  function connectionById(contactId, connectionId) {
    const found = contactById(contactId)
      .getConnections()
      .find((c) => c.getConnectionId() === connectionId);
    if (!found) {
      throw new Error("ResourceNotFoundException: connection " + connectionId + " not found");
    }
    return found;
  }

  const ENDPOINT_TYPE = /** @type {Record<string, string | null>} */ ({
    agent: "agent",
    queue: "queue",
    quick_connect: null,
  });

  /** @param {EndpointRef | null} ref @returns {connect.Endpoint} */
  function endpointFor(ref) {
    if (!ref) throw new Error("InvalidParameterException: no endpoint");
    if (ref.kind === "phone") return connect.Endpoint.byPhoneNumber(ref.value);
    if (ref.kind === "queue") return queueEndpoint(ref.value);
    const type = ENDPOINT_TYPE[ref.kind];
    const found = endpoints.find((e) => e.name === ref.value && (!type || e.type === type));
    if (!found) throw new Error("ResourceNotFoundException: " + ref.kind + " " + ref.value);
    return found;
  }

  /**
   * A queue is reached through a quick connect of type Queue for it, whatever its name (admins
   * name quick connects freely: "Transfer to Sales" for the queue Sales).
   * @param {string} name @returns {connect.Endpoint}
   */
  function queueEndpoint(name) {
    const arn = queueArn(name);
    const found = endpoints.find((e) => e.type === "queue" && e.queue === arn);
    if (!found) {
      throw new Error(
        "ResourceNotFoundException: no quick connect of type Queue for queue " +
          name +
          " (add one for it to the agent's queues)",
      );
    }
    return found;
  }

  /** @param {string | null} name @returns {string | undefined} */
  function queueArn(name) {
    if (name === null) return undefined;
    const profile = currentAgent().getRoutingProfile();
    const queue = profile.queues.find((q) => q.name === name);
    if (!queue) throw new Error("ResourceNotFoundException: queue " + name + " not found");
    return queue.queueARN;
  }

  /** @param {StateRef} state @param {Callbacks} callbacks */
  function setState(state, callbacks) {
    const current = currentAgent();
    const wanted = current.getAgentStates().find((s) => s.name === state.label);
    if (!wanted) throw new Error("ResourceNotFoundException: agent state " + state.label);
    // on a contact Connect keeps the state as the next one (applied when the contact is cleared)
    const enqueueNextState = current.getContacts().length > 0;
    current.setState(wanted, callbacks, { enqueueNextState: enqueueNextState });
  }

  /** @param {boolean} wanted @param {Callbacks} callbacks */
  function setMute(wanted, callbacks) {
    const current = currentAgent();
    if (muted === wanted) {
      callbacks.success();
      return;
    }
    // agent.mute() has no callbacks: the CCP answers with a mute toggle
    let settled = false;
    const timer = window.setTimeout(() => {
      settled = true;
      // the softphone mutes only its call audio: with none, the CCP does nothing and says nothing
      callbacks.failure("the CCP did not confirm the mute change (no call audio to mute)");
    }, settings.settleMs);
    muteWaiters.push((now) => {
      if (settled || now !== wanted) return;
      settled = true;
      window.clearTimeout(timer);
      callbacks.success();
    });
    if (wanted) current.mute();
    else current.unmute();
  }

  /**
   * Two Streams calls as one command: the CCP shows the middle step before the second call, so
   * the apps are shown only the outcome.
   * @param {(cb: Callbacks) => void} first @param {(cb: Callbacks) => void} second
   * @param {Callbacks} callbacks
   */
  function chain(first, second, callbacks) {
    composite = true;
    /** @param {() => void} next */
    const done = (next) => {
      composite = false;
      // what the CCP shows now is the middle step (its answer comes before its agent update):
      // taken as seen, so the command's result waits for the update that shows the outcome
      if (agent) lastKey = JSON.stringify(ctibridgeSnapshot.snapshotOf(agent, muted));
      next();
    };
    const failure = (/** @type {unknown} */ err) => done(() => callbacks.failure(err));
    try {
      first({
        success: () => {
          try {
            second({ success: () => done(callbacks.success), failure: failure });
          } catch (err) {
            failure(err);
          }
        },
        failure: failure,
      });
    } catch (err) {
      composite = false;
      throw err;
    }
  }

  /** @param {connect.Contact} contact @param {EndpointRef | null} ref @param {Callbacks} callbacks */
  function transfer(contact, ref, callbacks) {
    // blind: add the party, then the agent leaves; warm: the third party is there, the agent leaves
    if (ref === null) {
      contact.getAgentConnection().destroy(callbacks);
      return;
    }
    const target = endpointFor(ref);
    chain(
      (cb) => contact.addConnection(target, cb),
      (cb) => contact.getAgentConnection().destroy(cb),
      callbacks,
    );
  }

  /**
   * A campaign preview: the agent takes the offer (accept), then Streams dials the customer
   * with engagePreviewContact() (present in Streams 2.28.2 but not in its type definitions).
   * @param {connect.Contact} contact @param {Callbacks} callbacks
   */
  function acceptPreview(contact, callbacks) {
    const preview = /** @type {connect.Contact & {engagePreviewContact: () => Promise<unknown>}} */ (
      contact
    );
    /** @param {Callbacks} cb */
    const engage = (cb) => {
      preview.engagePreviewContact().then(() => cb.success(), cb.failure);
    };
    if (!contact.getAgentConnection().isConnecting()) {
      engage(callbacks); // the offer is already accepted (in the CCP)
      return;
    }
    chain((cb) => contact.accept(cb), engage, callbacks);
  }

  /**
   * ClearContact races the CCP's own clearing (the ACW timeout, its auto-clear of
   * FailedConnect*): a contact that is gone is cleared, as asked; a refused clear is judged on
   * the CCP's next update.
   * @param {string} contactId @param {Callbacks} callbacks
   */
  function clearContact(contactId, callbacks) {
    const current = currentAgent();
    const gone = () => !current.getContacts().some((c) => c.getContactId() === contactId);
    if (gone()) {
      callbacks.success();
      return;
    }
    contactById(contactId).clear({
      success: callbacks.success,
      failure: (err) => {
        if (gone()) {
          callbacks.success();
          return;
        }
        let settled = false;
        const sub = current.onRefresh(() => {
          if (settled || !gone()) return;
          settled = true;
          window.clearTimeout(timer);
          sub.unsubscribe();
          callbacks.success();
        });
        const timer = window.setTimeout(() => {
          if (settled) return;
          settled = true;
          sub.unsubscribe();
          callbacks.failure(err);
        }, settings.settleMs);
      },
    });
  }

  /** The hub's actions (ctibridge/actions.py) -> the Streams calls that carry them out. */
  const HANDLERS = /** @type {Record<string, Handler>} */ ({
    Accept: (a, cb) => contactById(a.contact_id).accept(cb),
    Reject: (a, cb) => contactById(a.contact_id).reject(cb),
    Hold: (a, cb) => connectionById(a.contact_id, a.connection_id).hold(cb),
    Resume: (a, cb) => connectionById(a.contact_id, a.connection_id).resume(cb),
    Hangup: (a, cb) => connectionById(a.contact_id, a.connection_id).destroy(cb),
    Clear: (a, cb) => clearContact(a.contact_id, cb),
    AddParty: (a, cb) => contactById(a.contact_id).addConnection(endpointFor(a.endpoint), cb),
    Swap: (a, cb) => contactById(a.contact_id).toggleActiveConnections(cb),
    Conference: (a, cb) => contactById(a.contact_id).conferenceConnections(cb),
    Transfer: (a, cb) => transfer(contactById(a.contact_id), a.endpoint, cb),
    SendDigits: (a, cb) => connectionById(a.contact_id, a.connection_id).sendDigits(a.digits, cb),
    SetState: (a, cb) => setState(a.state, cb),
    SetMute: (a, cb) => setMute(a.muted, cb),
    Dial: (a, cb) =>
      currentAgent().connect(endpointFor(a.endpoint), {
        queueARN: queueArn(a.queue),
        success: cb.success,
        failure: cb.failure,
      }),
    AcceptPreview: (a, cb) => acceptPreview(contactById(a.contact_id), cb),
    // skipping discards the preview without dialling: contact.clear(), as Streams documents
    // (reject would count as a missed offer and put the agent in MissedCallAgent)
    SkipPreview: (a, cb) => contactById(a.contact_id).clear(cb),
  });

  // actions whose success shows in no snapshot: answered at once
  const NO_VISIBLE_CHANGE = new Set(["SendDigits", "SetMute"]);

  /** @param {{id: number, action: Action}} command */
  function execute(command) {
    const action = command.action;
    let answered = false;
    /** @param {string | null} error */
    const answer = (error) => {
      if (answered) return;
      answered = true;
      send({ type: "result", id: command.id, error: error });
    };
    const callbacks = {
      success: () => {
        if (NO_VISIBLE_CHANGE.has(action.type) || publish(false)) {
          answer(null);
          return;
        }
        const timer = window.setTimeout(() => {
          publish(true);
          answer(null);
        }, settings.settleMs);
        changeWaiters.push(() => {
          window.clearTimeout(timer);
          answer(null);
        });
      },
      /** @param {unknown} err */
      failure: (err) => answer(describe(err)),
    };
    const handler = HANDLERS[action.type];
    try {
      if (!handler) throw new Error("unsupported action " + action.type);
      handler(action, callbacks);
    } catch (err) {
      answer(describe(err));
    }
  }

  // --- the link to the hub ------------------------------------------------------------------------

  // close codes after which reconnecting would be wrong (ctibridge/backends/streams)
  const FINAL_CLOSE = /** @type {Record<number, string>} */ ({
    4403: "forbidden: the token does not name this agent, or the CCP user is another",
    4404: "the hub does not know this agent",
    4409: "replaced by a newer bridge window",
  });

  // the hub token (toolbar/auth.js: from the URL fragment or the paste form)
  const auth = /** @type {{protocols: () => string[], ask: (why: string, done: () => void) => void}} */ (
    /** @type {any} */ (window).ctibridgeAuth
  );

  function openSocket() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url =
      scheme + "//" + location.host + settings.wsPath + "?agent=" + encodeURIComponent(settings.agent);
    const ws = new WebSocket(url, auth ? auth.protocols() : []); // the token rides in a subprotocol
    socket = ws;
    show("status-hub", "connecting");
    ws.onopen = () => {
      retryMs = 500;
      show("status-hub", "connected");
      send({ type: "hello", agent: settings.agent, ccpUrl: settings.ccpUrl });
    };
    ws.onmessage = (event) => {
      /** @type {{type: string, id: number, action: Action}} */
      const message = JSON.parse(String(event.data));
      if (message.type === "command") {
        execute(message);
      } else if (message.type === "resync") {
        sendDirectory();
        publish(true);
      }
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (leaving) return;
      const final = FINAL_CLOSE[event.code];
      if (event.code === 4401 && auth) {
        show("status-hub", "token needed");
        auth.ask("The hub refused the token: " + (event.reason || "no token") + ".", openSocket);
        return;
      }
      if (final) {
        show("status-hub", final); // another window took over, or the hub does not know us
        return;
      }
      show("status-hub", "reconnecting");
      window.setTimeout(openSocket, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  // --- leaving -------------------------------------------------------------------------------

  /**
   * The agent closes the bridge page: Connect would keep them Available (and routing calls to a
   * closed softphone) for as long as their session lives, so they go to the configured offline
   * state first (enqueued when on a contact), and the hub is told at once.
   */
  function leave() {
    if (leaving) return;
    leaving = true;
    send({ type: "bye" });
    if (!agent) return;
    const offline = agent.getAgentStates().find((s) => s.name === settings.offlineState);
    if (offline && agent.getState().name !== offline.name) {
      agent.setState(offline, {}, { enqueueNextState: agent.getContacts().length > 0 });
    }
  }

  // --- signing in ---------------------------------------------------------------------------------

  /**
   * The Connect sign-in page (or the SAML one) opens from a click: browsers block pop-ups
   * opened without a user gesture, which is what Streams' own loginPopup does on a timer.
   */
  function offerSignIn() {
    const button = document.getElementById("sign-in");
    if (!button || agent) return;
    show("status-ccp", "not signed in to Amazon Connect");
    button.hidden = false;
    button.onclick = () => {
      loginWindow = window.open(settings.loginUrl || settings.ccpUrl, "connect-login", "popup");
    };
  }

  /** Amazon Connect embeds the CCP only in pages of an HTTPS origin (its approved origins). */
  function secureOrigin() {
    const loopback = ["127.0.0.1", "localhost", "[::1]"].indexOf(location.hostname) >= 0;
    return location.protocol === "https:" || loopback;
  }

  // --- start --------------------------------------------------------------------------------------

  show("status-agent", settings.agent);
  const container = document.getElementById("ccp");
  if (!container) throw new Error("the page has no #ccp element");
  window.addEventListener("pagehide", leave);
  if (!secureOrigin()) {
    show(
      "status-ccp",
      "Amazon Connect embeds the CCP only in HTTPS pages: open this page over HTTPS " +
        "(an approved origin of the instance)",
    );
    return;
  }
  connect.core.initCCP(container, {
    ccpUrl: settings.ccpUrl,
    loginUrl: settings.loginUrl || undefined,
    region: settings.region || undefined,
    loginPopup: false, // offerSignIn: from a click
    ccpLoadTimeout: settings.ccpLoadTimeoutMs || undefined,
    // browsers blocking third-party cookies: Streams asks for storage access first
    storageAccess: settings.storageAccess ? { canRequest: true, mode: "default" } : undefined,
    softphone: { allowFramedSoftphone: true },
  });
  connect.core.getEventBus().subscribe(connect.EventType.ACK_TIMEOUT, offerSignIn);
  connect.agent((current) => {
    agent = current;
    const button = document.getElementById("sign-in");
    if (button) button.hidden = true;
    if (loginWindow) loginWindow.close();
    loginWindow = null;
    show("status-ccp", "signed in as " + current.getName());
    current.onRefresh(() => publish(false));
    current.onMuteToggle((status) => {
      muted = status.muted;
      publish(false); // the snapshot that shows it first, then the mute command's result
      const waiters = muteWaiters;
      muteWaiters = [];
      waiters.forEach((resume) => resume(muted));
    });
    sendDirectory();
    publish(true);
    loadEndpoints();
  });
  openSocket();
  window.setInterval(() => send({ type: "heartbeat" }), settings.heartbeatMs);
})();
