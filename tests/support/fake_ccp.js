// A fake Amazon Connect CCP: the page amazon-connect-streams' initCCP puts in its iframe.
//
// It speaks Streams' upstream conduit as the real CCP does (amazon-connect-streams 2.28.2,
// release/connect-streams.js: IFrameConduit/WindowIOStream, KeepaliveManager, ClientEngine):
//
// * every message is `{event, data}` posted between this frame and its parent;
// * on load the CCP's worker port says `acknowledge` ({id}); `synchronize` is answered with
//   `acknowledge` (the keepalive);
// * `api_request` ({requestId, method, params}) is answered with `api_response`
//   ({requestId, data, err}); a failure's `err` is the JSON *text* of {type, message, ...}, as
//   ClientEngine.handleAPIRequest sends it;
// * after every change the worker pushes `agent::update` with {snapshot, configuration}, after
//   the aliasing ClientEngine.updateAgent does (status, address, queueId, routingProfileId);
//   times are Date objects (the worker's SDK parses them), as structured clone carries them;
// * `broadcast` ({event, data}) is sent back down to every port; `mute` reaches the softphone,
//   which answers `agent::mute_toggle` only when there is softphone media (a connected agent leg);
// * the AmazonConnectProvider handshake (`cross-domain-adapter-init` with a MessagePort) carries
//   the SDK requests Streams makes through the provider (contact/engagePreviewContact).
//
// Its world is a small Connect model of one softphone agent, with what real instances send: the
// agent's personal queue (`name: null`) in the routing profile, quick connects named unlike
// their queues, `connectSystemEndpoint`, attributes without `value`, phone endpoints with
// `name: null`, a transfer to another agent `connected` as soon as it is routed.
//
// The test drives it through `window.fakeCcp` (tests/support/fake_ccp.py).
"use strict";

(function () {
  const PARENT = window.parent;
  const INSTANCE = "arn:aws:connect:us-east-1:111122223333:instance/4a1f6c2e-0000-4000-8000-00000000c0de";
  const AGENT_ID = "7d3f0c51-0000-4000-8000-0000000a9e01";
  let ids = 0;
  const uuid = () => {
    ids += 1;
    return "5a39b8f1-0649-49bf-93aa-" + ids.toString(16).padStart(12, "0");
  };
  let clock = Date.now();
  const now = () => new Date((clock = Math.max(clock + 1, Date.now())));
  const later = (fn) => setTimeout(fn, 0);

  const STATES = ["Available:routable", "Not Ready:not_routable", "Break:not_routable", "Lunch:not_routable", "Offline:offline"].map((s) => {
    const [name, type] = s.split(":");
    return { agentStateARN: INSTANCE + "/agent-state/" + name.toLowerCase().replace(" ", "-"), type: type, name: name };
  });
  const queue = (name, id) => ({ name: name, queueARN: INSTANCE + "/queue/" + id, queueId: INSTANCE + "/queue/" + id });
  const QUEUES = {
    personal: queue(null, "agent/" + AGENT_ID), // the agent's own queue: no name
    InboundTest: queue("InboundTest", "0b7e0d5c-0000-4000-8000-000000000001"),
    Sales: queue("Sales", "0b7e0d5c-0000-4000-8000-000000000002"),
    Support: queue("Support", "0b7e0d5c-0000-4000-8000-000000000003"),
  };
  const endpoint = (type, name, extra) =>
    Object.assign({ endpointARN: null, endpointId: null, type: type, name: name, phoneNumber: null, agentLogin: null, queue: null }, extra);
  const quickConnect = (type, name, extra) => {
    const arn = INSTANCE + "/transfer-destination/" + name.replace(/\W+/g, "-").toLowerCase();
    return endpoint(type, name, Object.assign({ endpointARN: arn, endpointId: arn }, extra));
  };
  // getEndpoints: quick connects as a real instance names them (queue ones unlike the queues)
  const ENDPOINTS = [
    quickConnect("phone_number", "Billing", { phoneNumber: "+18005550111" }),
    quickConnect("phone_number", "Supervisor", { phoneNumber: "+18005550112" }),
    quickConnect("agent", "agent2"),
    quickConnect("queue", "Transfer to Sales", { queue: QUEUES.Sales.queueARN }),
    quickConnect("queue", "Support desk (queue)", { queue: QUEUES.Support.queueARN }),
  ];

  const configuration = {
    agentARN: INSTANCE + "/agent/" + AGENT_ID,
    agentPreferences: { LANGUAGE: "en_US" },
    agentStates: STATES,
    dialableCountries: ["us"],
    extension: "",
    name: "Agent One",
    permissions: ["outboundCall"],
    routingProfile: {
      channelConcurrencyMap: { VOICE: 1, CHAT: 0, TASK: 0 },
      defaultOutboundQueue: Object.assign({}, QUEUES.InboundTest),
      name: "Basic Routing Profile",
      queues: [QUEUES.personal, QUEUES.InboundTest, QUEUES.Sales, QUEUES.Support],
      routingProfileARN: INSTANCE + "/routing-profile/5c9a1e55-0000-4000-8000-000000000001",
      routingProfileId: INSTANCE + "/routing-profile/5c9a1e55-0000-4000-8000-000000000001",
    },
    softphoneAutoAccept: false,
    softphoneEnabled: true,
    username: "agent1",
  };

  const t0 = now();
  const data = {
    agentAvailabilityState: { state: "Available", timeStamp: t0 },
    contacts: [],
    nextState: null,
    snapshotTimestamp: t0,
    state: { agentStateARN: STATES[0].agentStateARN, name: "Available", startTimestamp: t0, type: "routable" },
  };

  const control = { calls: [], requests: [], dtmf: [], failures: {}, muted: false, acknowledged: false, updates: 0 };
  let providerPort = null;
  const previewNumbers = {}; // contact id -> the number engagePreviewContact dials

  // --- the conduit -----------------------------------------------------------------------------

  function send(event, payload) {
    PARENT.postMessage({ event: event, data: payload }, "*");
  }

  // ClientEngine.updateAgent: the data every port gets as agent::update
  function push() {
    data.snapshotTimestamp = now();
    data.state = shownState();
    const agent = { snapshot: JSON.parse(JSON.stringify(data), revive), configuration: configuration };
    const snap = agent.snapshot;
    snap.localTimestamp = Date.now();
    snap.skew = snap.snapshotTimestamp.getTime() - snap.localTimestamp;
    snap.status = snap.state;
    snap.contacts.forEach((c) => {
      c.status = c.state;
      if (c.queue) c.queue.queueId = c.queue.queueARN;
      c.connections.forEach((x) => (x.address = x.endpoint));
    });
    control.updates += 1;
    send("agent::update", agent);
  }

  // JSON round trip for a copy; the times come back as Dates
  const TIME_KEYS = new Set(["timestamp", "timeStamp", "startTimestamp", "snapshotTimestamp", "queueTimestamp"]);
  function revive(key, value) {
    return TIME_KEYS.has(key) && typeof value === "string" ? new Date(value) : value;
  }

  function respond(request, result, error) {
    send("api_response", {
      event: "api_response",
      requestId: request.requestId,
      data: result === undefined ? null : result,
      err: error ? JSON.stringify(Object.assign({ stack: [], retryStatus: "none", statusCode: 400 }, error)) : null,
    });
  }

  window.addEventListener("message", (message) => {
    if (message.source !== PARENT) return;
    const m = message.data || {};
    if (m.event === "synchronize") {
      send("acknowledge", { id: "fake-port" });
    } else if (m.event === "api_request") {
      apiRequest(m.data);
    } else if (m.event === "broadcast") {
      const b = m.data;
      send(b.event, b.data); // the worker sends a broadcast to every port, the sender's too
      if (b.event === "mute") softphoneMute(b.data && b.data.mute);
    }
  });

  // the softphone (framed in the CCP): mute acts on local media only; without it, nothing
  function softphoneMute(wanted) {
    control.requests.push("mute");
    if (!hasMedia()) return;
    if (takeFailure("mute")) return; // the softphone never answers
    control.muted = !!wanted;
    data.contacts.forEach((c) => { const a = legs(c).agent; if (a) a.mute = control.muted; });
    send("agent::mute_toggle", { muted: control.muted });
  }

  function hasMedia() {
    return data.contacts.some((c) => { const a = legs(c).agent; return a && ["connected", "hold"].indexOf(a.state.type) >= 0 && a.softphoneMediaInfo; });
  }

  // the softphone session ends with the agent's leg: Streams resets mute then
  function mediaGone() {
    if (control.muted && !hasMedia()) {
      control.muted = false;
      send("agent::mute_toggle", { muted: false });
    }
  }

  // --- the provider (AmazonConnectStreamsSite) channel -----------------------------------------

  function openProvider() {
    const channel = new MessageChannel();
    providerPort = channel.port1;
    providerPort.onmessage = (event) => {
      const m = event.data || {};
      if (m.type === "cross-domain-site-ready") {
        providerPort.postMessage({ type: "acknowledge", connectionId: "fake-provider", status: "ready", healthCheckInterval: 0 });
      } else if (m.type === "request") {
        providerRequest(m);
      }
    };
    PARENT.postMessage({ type: "cross-domain-adapter-init" }, "*", [channel.port2]);
  }

  function providerRequest(m) {
    const reply = (result, error) =>
      providerPort.postMessage(Object.assign({ type: "response", namespace: m.namespace, requestId: m.requestId },
        error ? { isError: true, errorKey: error.type, reason: error.message, details: error } : { isError: false, data: result }));
    control.requests.push(m.command);
    const handler = PROVIDER[m.command];
    if (!handler) return reply(null, { type: "handlerNotFound", message: "no handler for " + m.command });
    const failure = takeFailure(m.command);
    if (failure) return reply(null, failure);
    try {
      const result = handler(m.data || {});
      reply(result || {});
      later(push);
    } catch (e) {
      reply(null, { type: "InvalidStateException", message: e.message });
    }
  }

  // --- the world -------------------------------------------------------------------------------

  function availability() {
    return STATES.find((s) => s.name === data.agentAvailabilityState.state) || STATES[0];
  }

  // the state Connect shows: the chosen one, or a system state while handling a contact
  function shownState() {
    const c = data.contacts[0];
    const chosen = availability();
    if (!c) return { agentStateARN: chosen.agentStateARN, name: chosen.name, startTimestamp: data.agentAvailabilityState.timeStamp, type: chosen.type };
    const system = (name, type) => ({ agentStateARN: null, name: name, startTimestamp: data.state.name === name ? data.state.startTimestamp : now(), type: type || "system" });
    const l = legs(c);
    if (c.state.type === "ended") return system("AfterCallWork");
    if (c.state.type === "missed" || c.state.type === "rejected") return system("MissedCallAgent", "error");
    if (c.state.type === "error") return system("FailedConnectCustomer", "error");
    if (l.customer && l.customer.type === "outbound" && l.customer.state.type === "connecting") return system("CallingCustomer");
    if (l.agent && l.agent.state.type === "connecting") return system("PendingBusy");
    return system("Busy");
  }

  const live = (c) => ["incoming", "pending", "connecting", "connected"].indexOf(c.state.type) >= 0;
  const legs = (c) => ({
    agent: c.connections.find((x) => x.type === "agent"),
    customer: c.connections.find((x) => x.initial),
    third: c.connections.find((x) => !x.initial && x.type !== "agent"),
  });
  const setState = (x, type) => { if (x.state.type !== type) x.state = { timestamp: now(), type: type }; };

  // the call is over for the agent: agent and customer disconnected, third parties gone
  function end(c, type) {
    c.connections = c.connections.filter((x) => x.type === "agent" || x.initial);
    c.connections.forEach((x) => setState(x, "disconnected"));
    setState(c, type);
    mediaGone();
  }

  function removeLeg(c, conn) {
    c.connections = c.connections.filter((x) => x !== conn);
    const l = legs(c);
    if (!l.customer && !l.third) end(c, "ended");
  }

  function connection(type, initial, state, ep) {
    return {
      chatMediaInfo: null,
      connectionId: uuid(),
      endpoint: ep,
      initial: initial,
      monitoringInfo: null,
      mute: false,
      quickConnectName: ep.endpointARN ? ep.name : null,
      softphoneMediaInfo: type === "agent" ? { autoAccept: false, callConfigJson: "redacted", callContextToken: "redacted", callType: "audio_only", mediaLegContextToken: "redacted" } : null,
      state: { timestamp: now(), type: state },
      type: type,
    };
  }
  const agentEndpoint = () => endpoint("agent", null);
  const phoneEndpoint = (number) => endpoint("phone_number", null, { phoneNumber: number }); // name: null

  function contact(method, q, connections, attributes, dnis) {
    const id = uuid();
    const t = now();
    return {
      attributes: attributes,
      channelContext: null,
      connectSystemEndpoint: dnis ? phoneEndpoint(dnis) : null,
      connections: connections,
      contactDuration: "0",
      contactFeatures: { attachmentsEnabled: null, messagingMarkdownEnabled: null, multiPartyConferenceEnabled: false },
      contactId: id,
      description: null,
      initialContactId: id,
      initiationMethod: method,
      name: null,
      queue: q ? { name: q.name, queueARN: q.queueARN } : null,
      queueTimestamp: q ? t : null,
      references: null,
      state: { timestamp: t, type: "connecting" },
      type: "voice",
    };
  }

  function findContact(id) {
    const c = data.contacts.find((x) => x.contactId === id);
    if (!c) throw new Error("contact " + id + " not found");
    return c;
  }
  function findConnection(p) {
    const c = findContact(p.contactId);
    const x = c.connections.find((y) => y.connectionId === p.connectionId);
    if (!x) throw new Error("connection " + p.connectionId + " not found");
    return [c, x];
  }

  function takeFailure(method) {
    const failure = control.failures[method];
    if (failure) delete control.failures[method];
    return failure;
  }

  // the CTI service behind api_request (the worker's AWSClient), by Streams client method
  const API = {
    getEndpoints: () => ({ endpoints: ENDPOINTS.map((e) => Object.assign({}, e)), nextToken: null }),
    putAgentState: (p) => {
      control.calls.push(["setState", p.state.name, !!p.enqueueNextState]);
      if (data.contacts.length > 0 && !p.enqueueNextState) throw new Error("the agent is handling a contact");
      if (data.contacts.length > 0) {
        data.nextState = { agentStateARN: p.state.agentStateARN, name: p.state.name, startTimestamp: now(), type: p.state.type };
      } else {
        data.agentAvailabilityState = { state: p.state.name, timeStamp: now() };
        data.nextState = null;
      }
    },
    createOutboundContact: (p) => {
      control.calls.push(["connect", p.endpoint.phoneNumber, p.queueARN]);
      if (availability().type === "offline") throw new Error("the agent is offline");
      if (data.contacts.some(live)) throw new Error("the agent is on a call");
      const q = Object.values(QUEUES).find((x) => x.queueARN === p.queueARN) || QUEUES.InboundTest;
      const agentLeg = connection("agent", false, "connecting", agentEndpoint());
      const customer = connection("outbound", true, "connecting", phoneEndpoint(p.endpoint.phoneNumber));
      data.contacts.push(contact("outbound", q, [agentLeg, customer], {}, null));
    },
    acceptContact: (p) => {
      const c = findContact(p.contactId);
      const l = legs(c);
      if (!live(c) || l.agent.state.type !== "connecting") throw new Error("contact is not ringing");
      setState(l.agent, "connected");
      setState(c, "connected");
    },
    rejectContact: (p) => {
      const c = findContact(p.contactId);
      if (!live(c) || legs(c).agent.state.type !== "connecting") throw new Error("contact is not ringing");
      end(c, "rejected");
    },
    clearContact: (p) => {
      if (control.clearedFirst) {
        // the CCP cleared the contact on its own a moment before the request reached it
        control.clearedFirst = false;
        clear(p);
        later(push);
        throw new Error("contact " + p.contactId + " not found");
      }
      clear(p);
    },
    completeContact: (p) => clear(p),
    holdConnection: (p) => {
      const [, x] = findConnection(p);
      if (x.state.type !== "connected") throw new Error("connection is not connected");
      setState(x, "hold");
    },
    resumeConnection: (p) => {
      const [, x] = findConnection(p);
      if (x.state.type !== "hold") throw new Error("connection is not on hold");
      setState(x, "connected");
    },
    destroyConnection: (p) => {
      const [c, x] = findConnection(p);
      if (!live(c)) throw new Error("contact is not active");
      if (x.type === "agent") end(c, "ended"); // with a third party on the call: a transfer
      else removeLeg(c, x);
    },
    sendDigits: (p) => {
      const [, x] = findConnection(p);
      if (x.state.type !== "connected") throw new Error("connection is not connected");
      control.dtmf.push([p.connectionId, p.digits]);
    },
    createAdditionalConnection: (p) => {
      const c = findContact(p.contactId);
      const l = legs(c);
      if (!live(c) || l.agent.state.type !== "connected") throw new Error("the agent is not connected");
      if (l.third) throw new Error("a third party is already on the call");
      control.calls.push(["addConnection", p.endpoint.type, p.endpoint.name, p.endpoint.phoneNumber, p.endpoint.queue]);
      if (l.customer && l.customer.state.type === "connected") setState(l.customer, "hold");
      const ep = Object.assign({}, p.endpoint);
      delete ep.endpointId;
      // a transfer to an agent shows connected as soon as Connect routes it
      const routed = ep.type === "agent" ? "connected" : "connecting";
      c.connections.push(connection("outbound", false, routed, ep));
    },
    toggleActiveConnections: (p) => {
      const l = legs(findContact(p.contactId));
      if (!l.customer || !l.third) throw new Error("needs two parties");
      const pair = l.customer.state.type + "/" + l.third.state.type;
      if (pair === "hold/connected") { setState(l.third, "hold"); setState(l.customer, "connected"); }
      else if (pair === "connected/hold") { setState(l.customer, "hold"); setState(l.third, "connected"); }
      else throw new Error("nothing to toggle (" + pair + ")");
    },
    conferenceConnections: (p) => {
      const l = legs(findContact(p.contactId));
      if (!l.customer || !l.third || l.third.state.type === "connecting") throw new Error("no third party to conference");
      setState(l.customer, "connected");
      setState(l.third, "connected");
    },
  };

  // clearContact: ends ACW (the next state applies) or discards a preview not yet dialled
  function clear(p) {
    const c = findContact(p.contactId);
    const preview = c.initiationMethod === "campaign_preview" && !legs(c).customer;
    if (live(c) && !preview) throw new Error("contact is still active");
    data.contacts = data.contacts.filter((x) => x !== c);
    mediaGone();
    if (data.contacts.length === 0 && data.nextState) {
      data.agentAvailabilityState = { state: data.nextState.name, timeStamp: now() };
      data.nextState = null;
    }
  }

  const PROVIDER = {
    "contact/engagePreviewContact": (p) => {
      const c = findContact(p.contactId);
      const l = legs(c);
      if (c.initiationMethod !== "campaign_preview" || l.customer) throw new Error("contact is not in preview");
      if (l.agent.state.type !== "connected") throw new Error("the preview is not accepted");
      c.connections.push(connection("outbound", true, "connecting", phoneEndpoint(previewNumbers[c.contactId])));
      return { participantId: c.connections[c.connections.length - 1].connectionId };
    },
  };

  function apiRequest(request) {
    control.requests.push(request.method);
    const handler = API[request.method];
    if (!handler) {
      control.calls.push([request.method]);
      later(() => respond(request, null, { type: "UnknownMethod", message: "the fake CCP has no " + request.method }));
      return;
    }
    const failure = takeFailure(request.method);
    if (failure) {
      later(() => respond(request, null, failure));
      return;
    }
    let result;
    try {
      result = handler(request.params || {});
    } catch (e) {
      later(() => respond(request, null, { type: "InvalidStateException", message: e.message }));
      return;
    }
    later(() => {
      respond(request, result);
      if (request.method !== "getEndpoints" && request.method !== "sendDigits") push();
    });
  }

  function liveContact() {
    const c = data.contacts.find(live);
    if (!c) throw new Error("no live contact");
    return c;
  }

  // --- what the test drives --------------------------------------------------------------------

  Object.assign(control, {
    queues: QUEUES,
    endpoints: ENDPOINTS,
    raw: () => JSON.parse(JSON.stringify(data)),
    incoming(options) {
      const o = options || {};
      if (availability().type !== "routable" || data.contacts.length) throw new Error("the agent cannot take a call");
      const q = QUEUES[o.queue || "InboundTest"];
      const attributes = {};
      Object.keys(o.attributes || {}).forEach((k) => {
        const v = o.attributes[k];
        attributes[k] = v === null ? { name: k } : { name: k, value: String(v) }; // Connect omits an empty value
      });
      const agentLeg = connection("agent", false, "connecting", agentEndpoint());
      if (o.deskPhone) agentLeg.softphoneMediaInfo = null; // the call rings the agent's desk phone
      const customer = connection("inbound", true, "connected", phoneEndpoint(o.phoneNumber || "+15551234567"));
      const c = contact(o.method || "inbound", q, [agentLeg, customer], attributes, o.dnis === undefined ? "+18005550100" : o.dnis);
      data.contacts.push(c);
      push();
      return c.contactId;
    },
    preview(options) {
      const o = options || {};
      if (availability().type !== "routable" || data.contacts.length) throw new Error("the agent cannot take a preview");
      const c = contact("campaign_preview", QUEUES.Sales, [connection("agent", false, "connecting", agentEndpoint())], {}, null);
      previewNumbers[c.contactId] = o.phoneNumber || "+15551234567";
      data.contacts.push(c);
      push();
      return c.contactId;
    },
    miss() { end(liveContact(), "missed"); push(); },
    customerHangup() {
      const c = liveContact();
      const l = legs(c);
      if (l.agent.state.type === "connecting" && c.initiationMethod !== "outbound") end(c, "missed");
      else if (l.third) removeLeg(c, l.customer);
      else end(c, "ended");
      push();
    },
    outboundAnswer() {
      const c = liveContact();
      const l = legs(c);
      setState(l.agent, "connected");
      setState(l.customer, "connected");
      setState(c, "connected");
      push();
    },
    thirdPartyAnswer() { setState(legs(liveContact()).third, "connected"); push(); },
    thirdPartyHangup() { const c = liveContact(); removeLeg(c, legs(c).third); push(); },
    setAvailability(name) { data.agentAvailabilityState = { state: name, timeStamp: now() }; push(); },
    // what the CCP itself does to a FailedConnect* contact: clear it on its own
    autoClear() { const c = data.contacts[0]; clear({ contactId: c.contactId }); push(); },
    clearFirst() { control.clearedFirst = true; },
    failNext(method, error) { control.failures[method] = error || { type: "InternalServiceException", message: "simulated failure" }; },
    refresh() { push(); },
  });
  window.fakeCcp = control;

  // the worker port connects: acknowledge, then the agent data it already has
  openProvider();
  send("acknowledge", { id: "fake-port" });
  control.acknowledged = true;
  push();
})();
