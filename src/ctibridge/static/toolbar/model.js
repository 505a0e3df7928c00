// The toolbar's picture of one agent, built only from what the hub sends (docs/protocol.md §4).
//
// `apply(message)` folds one message into the model.  StateSync answers replace what they
// cover (they are the truth); events update one thing each.  The model never derives a
// button: which call and agent buttons exist comes from the ButtonStates of the last message
// about that connection or agent.

export const CALL_TOPICS = ["InboundCall", "OutboundCall"];

const time = (iso) => (iso ? Date.parse(iso) : null);
const enabledItems = (items) =>
  new Set(Object.keys(items ?? {}).filter((name) => items[name] === "Enable"));
const enabledFlags = (flags) =>
  new Set(Object.keys(flags ?? {}).filter((name) => flags[name] === true));

function loggedOutAgent(login) {
  return {
    loginState: "LoggedOut", name: "", loginName: login, state: null, since: null,
    nextState: null, muted: false, buttons: new Set(), queues: [],
  };
}

export class AgentModel {
  constructor(login) {
    this.login = login;
    this.agent = loggedOutAgent(login);
    this.states = [];             // GetStates: [{label, code, type}]
    this.contacts = new Map();    // contactId -> contact (insertion order = arrival order)
    this.lastSeq = null;          // seq of the last journaled event seen (for resumeFrom)
  }

  /** Fold one message in; returns what it was (for the caller's logging and alerts). */
  apply(message) {
    if (Number.isInteger(message.seq)) this.lastSeq = message.seq;
    const { topic, subtopic } = message;
    if (subtopic === "Error") return "error";
    if (topic === "Agent") {
      const handler = AGENT_MESSAGES[subtopic];
      if (handler) handler(this, message.message);
      return handler ? "agent" : "other";
    }
    if (CALL_TOPICS.includes(topic)) {
      if (subtopic === "StateSync") {
        callSync(this, topic, message.message);
        return "call";
      }
      if (subtopic === `${topic}StateChange`) {
        callEvent(this, topic, message.message.call);
        return "call";
      }
    }
    return "other";
  }

  /** After a resume gap the old seq means nothing: the next event anchors it again. */
  forgetSeq() {
    this.lastSeq = null;
  }

  stateByType(type) {
    return this.states.find((s) => s.type === type) ?? null;
  }
}

// --- agent ------------------------------------------------------------------------------------

function agentRules(agent, rules) {
  if (!rules || typeof rules !== "object") {
    agent.buttons = new Set();
    return;
  }
  const items = rules.ButtonStates?.items ?? {};
  if (rules.ButtonStates?.count === 2) {
    // a Mute/Unmute event carries only mute and unmute (docs/protocol.md §4.4): the others stand
    for (const name of Object.keys(items)) agent.buttons.delete(name);
    for (const name of enabledItems(items)) agent.buttons.add(name);
  } else {
    agent.buttons = enabledItems(items);
  }
  const actual = rules.ResponseActual;
  if (actual) {
    agent.state = { label: actual.name, code: actual.name, type: actual.type };
    agent.since = time(actual.startTimestamp);
  }
  // mute state is only carried by SetAgentState; while on a call the buttons reveal it
  if (agent.buttons.has("unmute")) agent.muted = true;
  else if (agent.buttons.has("mute")) agent.muted = false;
}

function agentSync(model, m) {
  const agent = loggedOutAgent(model.login);
  agent.loginState = m.loginState;
  if (m.loginState === "LoggedIn" && m.agentInfo) {
    agent.name = m.agentInfo.name;
    agent.loginName = m.agentInfo.loginName;
    agent.queues = m.agentInfo.queues ?? [];
    agent.muted = Boolean(m.agentInfo.muted);
    agentRules(agent, m.rules);
  }
  model.agent = agent;
}

function setAgentState(model, m) {
  const agent = model.agent;
  const d = m.data;
  agent.loginState = "LoggedIn";
  agent.name = d.name;
  agent.loginName = d.loginName;
  agentRules(agent, m.rules);
  // data.state is the published Ready / Not_Ready / Offline; the Connect state's name is the event
  agent.state = { label: m.event, code: m.event, type: d.type };
  agent.since = time(d.stateChangeTime);
  agent.muted = d.muted;
  agent.nextState = d.nextState ?? null;
}

function loginChange(model, m) {
  const agent = model.agent;
  agent.loginState = m.loginState;
  agent.name = m.agentInfo?.name ?? agent.name;
  agent.loginName = m.agentInfo?.loginName ?? agent.loginName;
  agent.muted = Boolean(m.agentInfo?.muted);
  agent.nextState = null;
  // LoginSuccess carries no state (SetAgentState follows); LogoutSuccess the rules the agent had
  // before it logged out, which a logged-out toolbar does not offer
  agentRules(agent, m.loginState === "LoggedIn" ? m.rules : null);
}

const AGENT_MESSAGES = {
  StateSync: agentSync,
  SetAgentState: setAgentState,
  LoginSuccess: loginChange,
  LogoutSuccess: loginChange,
  GetStates: (model, m) => { model.states = m.states ?? []; },
};

// --- calls ------------------------------------------------------------------------------------

function newContact(contactId, topic) {
  return { contactId, topic, queueName: null, variables: [], connections: new Map() };
}

/** "agent", "customer" or "third" (a consulted party), by the rule every backend keeps
 * (docs/protocol.md §4.1, connection roles): the customer leg's connectionId is the contactId. */
export function roleOf(contact, conn) {
  if (conn.type === "agent") return "agent";
  return conn.connectionId === contact.contactId ? "customer" : "third";
}

export function agentConnection(contact) {
  return [...contact.connections.values()].find((c) => c.type === "agent") ?? null;
}

function callSync(model, topic, m) {
  const contacts = new Map();
  for (const c of m.calls ?? []) {
    let contact = contacts.get(c.contactId);
    if (!contact) {
      contact = newContact(c.contactId, topic);
      contact.queueName = m.queueName;
      contact.variables = (m.attributes ?? []).map((a) => [a.name, a.value]);
      contacts.set(c.contactId, contact);
    }
    contact.connections.set(c.connectionId, {
      connectionId: c.connectionId, phoneNumber: c.phoneNumber, type: c.type,
      status: c.status, since: time(c.statusTimestamp), event: null,
      buttons: enabledFlags(c.buttonStates),
    });
  }
  model.contacts = contacts;
}

function callEvent(model, topic, call) {
  const actual = call.ResponseActual;
  let contact = model.contacts.get(actual.contactId);
  const dropped = call.event === "DROPPED";
  if (!contact) {
    if (dropped) return;  // the rest of a contact already cleared
    contact = newContact(actual.contactId, topic);
    model.contacts.set(actual.contactId, contact);
  }
  contact.topic = topic;
  contact.queueName = call.ResponseFields?.MediaProperties?.queueName ?? contact.queueName;
  contact.variables = Object.entries(call.CallVariables ?? {});
  const conn = {
    connectionId: actual.connectionId, phoneNumber: actual.phoneNumber, type: actual.type,
    status: actual.status, since: time(actual.statusTimestamp), event: call.event,
    buttons: enabledItems(call.ButtonStates?.items),
  };
  if (dropped) {
    // the agent's connection dropped: the contact is cleared.  A dropped third party leaves
    // the call; the customer leg stays (disconnected) until the contact is cleared, as the
    // call StateSync lists them.
    if (conn.type === "agent") {
      model.contacts.delete(contact.contactId);
      return;
    }
    const known = contact.connections.get(conn.connectionId) ?? conn;
    if (roleOf(contact, known) === "third") {
      contact.connections.delete(conn.connectionId);
      return;
    }
  }
  contact.connections.set(conn.connectionId, conn);
}
