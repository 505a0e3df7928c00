// A test double of the amazon-connect-streams global `connect`, for the bridge page tests.
//
// It implements the subset of Streams the bridge uses (the same names and signatures as
// node_modules/amazon-connect-streams/src/index.d.ts) over raw agent data kept in the shape of
// Streams' published sample snapshots (tests/fixtures/streams/sample-snapshots.json: times in
// seconds, `agentAvailabilityState`, contacts with `connections`, `initial`, `endpoint` ...);
// the getters convert times to Date objects as Streams' core does.
//
// Calls behave as Amazon Connect does for a softphone agent: a call rings (agent connection
// connecting), accept connects it, adding a party holds the customer, the agent leaving ends
// the contact for the agent (ACW, contact state "ended"), clear removes it and applies an
// enqueued next state.  An action's callback runs on a later tick, the refresh after it.
//
// The test drives the other side through `window.streamsDouble`: calls arriving, customers and
// third parties answering or hanging up, and failures armed per Streams method (`failNext`).
"use strict";

(function () {
  const T0 = 1646311432.223;
  let clock = T0;
  let ids = 0;
  const now = () => (clock += 0.001);
  const uuid = () => {
    ids += 1;
    const hex = ids.toString(16).padStart(12, "0");
    return "5a39b8f1-0649-49bf-93aa-" + hex;
  };
  const later = (fn) => setTimeout(fn, 0);
  const toDate = (seconds) => (seconds === null || seconds === undefined ? null : new Date(seconds * 1000));

  const STATES = [
    { agentStateARN: "arn:aws:connect:us-east-1:000000000000:instance/double/agent-state/available", type: "routable", name: "Available" },
    { agentStateARN: "arn:aws:connect:us-east-1:000000000000:instance/double/agent-state/not-ready", type: "not_routable", name: "Not Ready" },
    { agentStateARN: "arn:aws:connect:us-east-1:000000000000:instance/double/agent-state/break", type: "not_routable", name: "Break" },
    { agentStateARN: "arn:aws:connect:us-east-1:000000000000:instance/double/agent-state/lunch", type: "not_routable", name: "Lunch" },
    { agentStateARN: "arn:aws:connect:us-east-1:000000000000:instance/double/agent-state/offline", type: "offline", name: "Offline" },
  ];
  const QUEUES = ["InboundTest", "Sales", "Support"].map((name) => ({
    name: name,
    queueARN: "arn:aws:connect:us-east-1:000000000000:instance/double/queue/" + name,
    queueId: name,
  }));
  const ENDPOINTS = [
    { endpointARN: "qc-billing", endpointId: "qc-billing", type: "phone_number", name: "Billing", phoneNumber: "+18005550111", agentLogin: null, queue: null },
    { endpointARN: "qc-supervisor", endpointId: "qc-supervisor", type: "phone_number", name: "Supervisor", phoneNumber: "+18005550112", agentLogin: null, queue: null },
    { endpointARN: "qc-agent2", endpointId: "qc-agent2", type: "agent", name: "agent2", phoneNumber: null, agentLogin: "agent2", queue: null },
  ].concat(QUEUES.map((q) => ({ endpointARN: q.queueARN, endpointId: q.queueId, type: "queue", name: q.name, phoneNumber: null, agentLogin: null, queue: q.queueARN })));

  const config = {
    agentStates: STATES,
    dialableCountries: ["us"],
    extension: "",
    name: "Agent One",
    permissions: ["outboundCall"],
    routingProfile: {
      channelConcurrencyMap: { VOICE: 1, CHAT: 0, TASK: 0 },
      defaultOutboundQueue: QUEUES[0],
      name: "Basic Routing Profile",
      queues: QUEUES,
      routingProfileARN: "arn:aws:connect:us-east-1:000000000000:instance/double/routing-profile/basic",
      routingProfileId: "basic",
    },
    softphoneAutoAccept: false,
    softphoneEnabled: true,
    username: "agent1",
    agentARN: "arn:aws:connect:us-east-1:000000000000:instance/double/agent/agent1",
  };

  // the raw agent data: the shape of the published sample snapshots
  const data = {
    agentAvailabilityState: { state: "Available", timeStamp: T0 },
    contacts: [],
    nextState: null,
    snapshotTimestamp: T0,
    state: { agentStateARN: STATES[0].agentStateARN, name: "Available", startTimestamp: T0, type: "routable" },
  };

  const refreshListeners = [];
  const muteListeners = [];
  const agentCallbacks = [];
  const failures = {};
  let muted = false;
  let signedIn = false;

  const control = {
    calls: [],
    dtmf: [],
    initOptions: null,
    raw: () => JSON.parse(JSON.stringify(data)),
  };

  function record(method, args) {
    control.calls.push([method].concat(args));
  }

  function refresh() {
    data.snapshotTimestamp = now();
    data.state = shownState();
    later(() => refreshListeners.slice().forEach((f) => f(agent)));
  }

  function availability() {
    return STATES.find((s) => s.name === data.agentAvailabilityState.state) || STATES[0];
  }

  // the state Streams shows: the chosen one, or a system state while handling a contact
  function shownState() {
    const c = data.contacts[0];
    const chosen = availability();
    if (!c) return { agentStateARN: chosen.agentStateARN, name: chosen.name, startTimestamp: data.agentAvailabilityState.timeStamp, type: chosen.type };
    const system = (name, type) => ({ agentStateARN: null, name: name, startTimestamp: data.state.name === name ? data.state.startTimestamp : now(), type: type || "system" });
    const agentLeg = c.connections.find((x) => x.type === "agent");
    const customer = c.connections.find((x) => x.initial);
    if (c.state.type === "ended") return system("AfterCallWork");
    if (c.state.type === "missed" || c.state.type === "rejected") return system("MissedCallAgent", "error");
    if (c.state.type === "error") return system("Error", "error");
    if (customer && customer.type === "outbound" && customer.state.type === "connecting") return system("CallingCustomer");
    if (agentLeg && agentLeg.state.type === "connecting") return system("PendingBusy");
    return system("Busy");
  }

  // --- an armed failure, or the action's effect; the callback on a later tick -------------------

  function act(method, callbacks, effect, recorded) {
    if (!recorded) record(method, []);
    const failure = failures[method];
    if (failure) {
      delete failures[method];
      later(() => callbacks && callbacks.failure && callbacks.failure(failure));
      return;
    }
    let error = null;
    try {
      effect();
    } catch (e) {
      error = { type: "InvalidStateException", message: e.message };
    }
    if (error) {
      later(() => callbacks && callbacks.failure && callbacks.failure(error));
      return;
    }
    later(() => callbacks && callbacks.success && callbacks.success());
    refresh();
  }

  function setConnState(conn, type) {
    if (conn.state.type !== type) conn.state = { timestamp: now(), type: type };
  }

  function setContactState(c, type) {
    if (c.state.type !== type) c.state = { timestamp: now(), type: type };
  }

  function live(c) {
    return ["incoming", "pending", "connecting", "connected"].indexOf(c.state.type) >= 0;
  }

  function legs(c) {
    return {
      agent: c.connections.find((x) => x.type === "agent"),
      customer: c.connections.find((x) => x.initial),
      third: c.connections.find((x) => !x.initial && x.type !== "agent"),
    };
  }

  // the call is over for the agent: agent and customer disconnected, third parties gone
  function end(c, type) {
    c.connections = c.connections.filter((x) => x.type === "agent" || x.initial);
    c.connections.forEach((x) => setConnState(x, "disconnected"));
    setContactState(c, type);
  }

  function removeLeg(c, conn) {
    c.connections = c.connections.filter((x) => x !== conn);
    const l = legs(c);
    if (!l.customer && !l.third) end(c, "ended");
  }

  function rawConnection(type, initial, state, endpoint) {
    return {
      chatMediaInfo: null,
      connectionId: uuid(),
      endpoint: endpoint,
      initial: initial,
      monitoringInfo: null,
      mute: false,
      quickConnectName: endpoint && endpoint.type !== "phone_number" ? endpoint.name : null,
      softphoneMediaInfo: type === "agent" ? { autoAccept: false, callConfigJson: "redacted", callContextToken: "redacted", callType: "audio_only", mediaLegContextToken: "redacted" } : null,
      state: { timestamp: now(), type: state },
      type: type,
    };
  }

  function agentEndpoint() {
    return { agentLogin: null, endpointARN: null, name: null, phoneNumber: null, queue: null, type: "agent" };
  }

  function phoneEndpoint(number) {
    return { agentLogin: null, endpointARN: null, name: null, phoneNumber: number, queue: null, type: "phone_number" };
  }

  function rawContact(method, queue, connections, attributes, dnis) {
    const id = uuid();
    const t = now();
    return {
      attributes: attributes,
      channelContext: null,
      connections: connections,
      contactDuration: "0",
      contactFeatures: { attachmentsEnabled: null, messagingMarkdownEnabled: null, multiPartyConferenceEnabled: false },
      contactId: id,
      description: null,
      initialContactId: id,
      initiationMethod: method,
      name: null,
      queue: { name: queue.name, queueARN: queue.queueARN },
      queueTimestamp: t,
      references: null,
      state: { timestamp: t, type: "connecting" },
      type: "voice",
      systemEndpoint: dnis ? phoneEndpoint(dnis) : null,
    };
  }

  // --- Streams API objects ---------------------------------------------------------------------

  class Endpoint {
    constructor(fields) {
      Object.assign(this, fields);
    }
    static byPhoneNumber(number) {
      return new Endpoint({ endpointARN: null, endpointId: null, type: "phone_number", name: number, phoneNumber: number, agentLogin: null, queue: null });
    }
  }

  class BaseConnection {
    constructor(contactId, connectionId) {
      this.contactId = contactId;
      this.connectionId = connectionId;
    }
    _contact() {
      const c = data.contacts.find((x) => x.contactId === this.contactId);
      if (!c) throw new Error("contact " + this.contactId + " not found");
      return c;
    }
    _data() {
      const conn = this._contact().connections.find((x) => x.connectionId === this.connectionId);
      if (!conn) throw new Error("connection " + this.connectionId + " not found");
      return conn;
    }
    getContactId() { return this.contactId; }
    getConnectionId() { return this.connectionId; }
    getEndpoint() { const e = this._data().endpoint; return e ? new Endpoint(e) : null; }
    getState() { const s = this._data().state; return { type: s.type, timestamp: toDate(s.timestamp) }; }
    getStatus() { return this.getState(); }
    getType() { return this._data().type; }
    isInitialConnection() { return this._data().initial; }
    isActive() { return ["connecting", "connected", "hold"].indexOf(this._data().state.type) >= 0; }
    isConnected() { return this._data().state.type === "connected"; }
    isConnecting() { return this._data().state.type === "connecting"; }
    isOnHold() { return this._data().state.type === "hold"; }
    hold(callbacks) {
      act("hold", callbacks, () => {
        const conn = this._data();
        if (conn.state.type !== "connected") throw new Error("connection is not connected");
        setConnState(conn, "hold");
      });
    }
    resume(callbacks) {
      act("resume", callbacks, () => {
        const conn = this._data();
        if (conn.state.type !== "hold") throw new Error("connection is not on hold");
        setConnState(conn, "connected");
      });
    }
    destroy(callbacks) {
      act("destroy", callbacks, () => {
        const c = this._contact();
        const conn = this._data();
        if (!live(c)) throw new Error("contact is not active");
        if (conn.type === "agent") {
          end(c, "ended"); // with a third party on the call this completes a transfer
        } else {
          removeLeg(c, conn);
        }
      });
    }
    sendDigits(digits, callbacks) {
      act("sendDigits", callbacks, () => {
        if (this._data().state.type !== "connected") throw new Error("connection is not connected");
        control.dtmf.push([this.connectionId, digits]);
      });
    }
  }

  class Contact {
    constructor(contactId) {
      this.contactId = contactId;
    }
    _data() {
      const c = data.contacts.find((x) => x.contactId === this.contactId);
      if (!c) throw new Error("contact " + this.contactId + " not found");
      return c;
    }
    getContactId() { return this.contactId; }
    getType() { return this._data().type; }
    getState() { const s = this._data().state; return { type: s.type, timestamp: toDate(s.timestamp) }; }
    getStatus() { return this.getState(); }
    getInitiationMethod() { return this._data().initiationMethod; }
    getQueue() { return this._data().queue; }
    getQueueTimestamp() { return toDate(this._data().queueTimestamp); }
    getAttributes() { return this._data().attributes; }
    getConnectSystemEndpoint() { const e = this._data().systemEndpoint; return e ? new Endpoint(e) : null; }
    getConnections() { return this._data().connections.map((x) => new BaseConnection(this.contactId, x.connectionId)); }
    getAgentConnection() { return this.getConnections().find((x) => x.getType() === "agent"); }
    getInitialConnection() { return this.getConnections().find((x) => x.isInitialConnection()); }
    accept(callbacks) {
      act("accept", callbacks, () => {
        const c = this._data();
        const l = legs(c);
        if (!live(c) || l.agent.state.type !== "connecting") throw new Error("contact is not ringing");
        setConnState(l.agent, "connected");
        setContactState(c, "connected");
      });
    }
    reject(callbacks) {
      act("reject", callbacks, () => {
        const c = this._data();
        if (!live(c) || legs(c).agent.state.type !== "connecting") throw new Error("contact is not ringing");
        end(c, "rejected");
      });
    }
    clear(callbacks) {
      act("clear", callbacks, () => {
        const c = this._data();
        if (live(c)) throw new Error("contact is still active");
        data.contacts = data.contacts.filter((x) => x !== c);
        if (data.contacts.length === 0 && data.nextState) {
          data.agentAvailabilityState = { state: data.nextState.name, timeStamp: now() };
          data.nextState = null;
        }
      });
    }
    addConnection(endpoint, callbacks) {
      act("addConnection", callbacks, () => {
        const c = this._data();
        const l = legs(c);
        if (!live(c) || l.agent.state.type !== "connected") throw new Error("the agent is not connected");
        if (l.third) throw new Error("a third party is already on the call");
        if (l.customer && l.customer.state.type === "connected") setConnState(l.customer, "hold");
        const e = Object.assign({}, endpoint);
        delete e.endpointId;
        c.connections.push(rawConnection("outbound", false, "connecting", e));
      });
    }
    toggleActiveConnections(callbacks) {
      act("toggleActiveConnections", callbacks, () => {
        const l = legs(this._data());
        if (!l.customer || !l.third) throw new Error("needs two parties");
        const pair = l.customer.state.type + "/" + l.third.state.type;
        if (pair === "hold/connected") {
          setConnState(l.third, "hold");
          setConnState(l.customer, "connected");
        } else if (pair === "connected/hold") {
          setConnState(l.customer, "hold");
          setConnState(l.third, "connected");
        } else {
          throw new Error("nothing to toggle (" + pair + ")");
        }
      });
    }
    conferenceConnections(callbacks) {
      act("conferenceConnections", callbacks, () => {
        const l = legs(this._data());
        if (!l.customer || !l.third || l.third.state.type === "connecting") throw new Error("no third party to conference");
        setConnState(l.customer, "connected");
        setConnState(l.third, "connected");
      });
    }
  }

  class Agent {
    _snapshot() { return data; }
    getName() { return config.name; }
    getConfiguration() { return config; }
    getAgentStates() { return STATES; }
    getRoutingProfile() { return config.routingProfile; }
    getAllQueueARNs() { return QUEUES.map((q) => q.queueARN); }
    getState() { const s = data.state; return { agentStateARN: s.agentStateARN, name: s.name, startTimestamp: toDate(s.startTimestamp), type: s.type }; }
    getStatus() { return this.getState(); }
    getAvailabilityState() {
      const a = data.agentAvailabilityState;
      return { state: a.state, timeStamp: toDate(a.timeStamp) };
    }
    getNextState() {
      const n = data.nextState;
      return n ? { agentStateARN: n.agentStateARN, name: n.name, startTimestamp: toDate(n.startTimestamp), type: n.type } : null;
    }
    getContacts() { return data.contacts.map((c) => new Contact(c.contactId)); }
    onRefresh(f) { refreshListeners.push(f); return { unsubscribe: () => refreshListeners.splice(refreshListeners.indexOf(f), 1) }; }
    onMuteToggle(f) { muteListeners.push(f); return { unsubscribe: () => muteListeners.splice(muteListeners.indexOf(f), 1) }; }
    getEndpoints(queueARNs, callbacks) {
      record("getEndpoints", [queueARNs]);
      later(() => callbacks.success({ endpoints: ENDPOINTS.map((e) => new Endpoint(e)), addresses: ENDPOINTS.map((e) => new Endpoint(e)) }));
    }
    setState(state, callbacks, options) {
      const enqueue = !!(options && options.enqueueNextState);
      control.calls.push(["setState", state.name, enqueue]);
      const failure = failures.setState;
      if (failure) {
        delete failures.setState;
        later(() => callbacks && callbacks.failure && callbacks.failure(failure));
        return;
      }
      if (data.contacts.length > 0 && !enqueue) {
        later(() => callbacks.failure({ type: "InvalidStateException", message: "the agent is handling a contact" }));
        return;
      }
      if (data.contacts.length > 0) {
        data.nextState = { agentStateARN: state.agentStateARN, name: state.name, startTimestamp: now(), type: state.type };
      } else {
        data.agentAvailabilityState = { state: state.name, timeStamp: now() };
        data.nextState = null;
      }
      later(() => callbacks && callbacks.success && callbacks.success());
      refresh();
    }
    connect(endpoint, options) {
      control.calls.push(["connect", endpoint.phoneNumber, options && options.queueARN ? options.queueARN : null]);
      act("connect", options, () => {
        if (availability().type === "offline") throw new Error("the agent is offline");
        if (data.contacts.some(live)) throw new Error("the agent is on a call");
        const queue = QUEUES.find((q) => options && q.queueARN === options.queueARN) || config.routingProfile.defaultOutboundQueue;
        const agentLeg = rawConnection("agent", false, "connecting", agentEndpoint());
        const customer = rawConnection("outbound", true, "connecting", phoneEndpoint(endpoint.phoneNumber));
        data.contacts.push(rawContact("outbound", queue, [agentLeg, customer], {}, null));
      }, true);
    }
    mute() { this._mute(true); }
    unmute() { this._mute(false); }
    _mute(value) {
      record(value ? "mute" : "unmute", []);
      if (failures.mute) { delete failures.mute; return; } // the CCP never confirms
      muted = value;
      data.contacts.forEach((c) => { const a = legs(c).agent; if (a) a.mute = value; });
      later(() => muteListeners.slice().forEach((f) => f({ muted: value })));
    }
  }

  const agent = new Agent();

  function liveContact() {
    const c = data.contacts.find(live);
    if (!c) throw new Error("no live contact");
    return c;
  }

  // --- what the test drives -------------------------------------------------------------------

  Object.assign(control, {
    incoming(options) {
      const o = options || {};
      if (availability().type !== "routable" || data.contacts.length) throw new Error("the agent cannot take a call");
      const queue = QUEUES.find((q) => q.name === (o.queue || "InboundTest"));
      const attributes = {};
      Object.keys(o.attributes || {}).forEach((k) => (attributes[k] = { name: k, value: String(o.attributes[k]) }));
      const agentLeg = rawConnection("agent", false, "connecting", agentEndpoint());
      const customer = rawConnection("inbound", true, "connected", phoneEndpoint(o.phoneNumber || "+15551234567"));
      const c = rawContact(o.method || "inbound", queue, [agentLeg, customer], attributes, o.dnis || "+18005550100");
      data.contacts.push(c);
      refresh();
      return c.contactId;
    },
    miss() {
      const c = liveContact();
      end(c, "missed");
      refresh();
    },
    customerHangup() {
      const c = liveContact();
      const l = legs(c);
      if (l.agent.state.type === "connecting" && c.initiationMethod !== "outbound") end(c, "missed");
      else if (l.third) removeLeg(c, l.customer);
      else end(c, "ended");
      refresh();
    },
    outboundAnswer() {
      const c = liveContact();
      const l = legs(c);
      setConnState(l.agent, "connected");
      setConnState(l.customer, "connected");
      setContactState(c, "connected");
      refresh();
    },
    thirdPartyAnswer() {
      const l = legs(liveContact());
      setConnState(l.third, "connected");
      refresh();
    },
    thirdPartyHangup() {
      const c = liveContact();
      removeLeg(c, legs(c).third);
      refresh();
    },
    setAvailability(name) {
      data.agentAvailabilityState = { state: name, timeStamp: now() };
      refresh();
    },
    failNext(method, error) {
      failures[method] = error || { type: "InternalServiceException", message: "simulated failure" };
    },
    refreshNow() { refresh(); },
    muted: () => muted,
    signedIn: () => signedIn,
  });

  window.streamsDouble = control;
  window.connect = {
    core: {
      initCCP(container, options) {
        control.initOptions = JSON.parse(JSON.stringify(options));
        const frame = document.createElement("iframe");
        frame.title = "CCP (test double)";
        container.appendChild(frame);
        later(() => {
          signedIn = true;
          agentCallbacks.forEach((f) => f(agent));
        });
      },
    },
    agent(f) {
      agentCallbacks.push(f);
      if (signedIn) later(() => f(agent));
      return { unsubscribe: () => agentCallbacks.splice(agentCallbacks.indexOf(f), 1) };
    },
    Endpoint: Endpoint,
  };
})();
