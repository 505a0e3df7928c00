// The agent toolbar: one app connection to the hub for one agent (docs/protocol.md), showing what
// the hub says and sending what the agent presses.  It decides nothing about the call: every
// call and agent button comes from ButtonStates, every failure from the hub is shown.

import { Link } from "./link.js";
import { AgentModel, roleOf } from "./model.js";
import {
  TARGET_HINT, contactOf, dismissFailures, el, focusAnchor, keypad, renderAgent, renderAlert,
  renderContacts, renderLink, renderLogEntry, restoreFocus, targetProblem, tick,
} from "./view.js";

const SOURCE = "ctibridge-toolbar";

/** A form field of the page (index.html) by id. @param {string} id */
const field = (id) => /** @type {HTMLInputElement | HTMLSelectElement} */ (document.getElementById(id));

// --- what each button asks the hub ----------------------------------------------------------------

const legId = ({ conn }) => (conn && conn.type !== "agent" ? conn.connectionId : undefined);
const hasThirdParty = (contact) =>
  [...contact.connections.values()].some((c) => roleOf(contact, c) === "third");

/** The card's consult/transfer target as the protocol takes it (§3.1). */
function target(card) {
  const value = card.querySelector(".target-value").value.trim();
  const kind = card.querySelector(".target-kind").value;
  if (kind === "quickConnect") return { quickConnect: value };
  if (kind === "agent") return { agentName: value };
  return value.replace(/[\s().-]/g, "");
}

// call button -> [subtopic, data]; data undefined: none sent.  The hub checks everything.
const CALL_REQUESTS = {
  answer: () => ["Answer"],
  reject: () => ["Reject"],
  disconnect: (x) => ["Disconnect", legId(x)],
  hold: (x) => ["Hold", legId(x)],
  resume: (x) => ["Resume", legId(x)],
  clearContact: ({ contact }) => ["ClearContact", contact.contactId],
  consult: ({ card }) => ["Consult", target(card)],
  swap: () => ["Swap"],
  // with a third party on the line Transfer hands the customer over to it (warm); without,
  // it sends the customer to the target (blind)
  transfer: ({ contact, card }) => ["Transfer", hasThirdParty(contact) ? undefined : target(card)],
  conference: () => ["Conference"],
};

// agent button -> [subtopic, data]
const AGENT_REQUESTS = {
  Ready: (model) => ["UpdateState", stateData(model, "routable")],
  NotReady: (model) => ["SetNotReady", { ReasonCodeId: stateData(model, "not_routable").label }],
  mute: () => ["Mute"],
  unmute: () => ["Unmute"],
  Login: () => ["Login"],
  Logout: () => ["Logout"],
};

function stateData(model, type) {
  const state = model.stateByType(type);
  if (!state) throw new ToolbarError("STATES_UNKNOWN", `No ${type.replace("_", "-")} state is known yet (Agent/GetStates).`);
  return { label: state.label, code: state.code };
}

class ToolbarError extends Error {
  constructor(type, text) {
    super(text);
    this.type = type;
  }
}

// --- the page -------------------------------------------------------------------------------------

class Toolbar {
  constructor(login) {
    this.login = login;
    this.model = new AgentModel(login);
    this.ui = { dialerOpen: false, padOpen: new Set() };
    this.backend = null;
    this.skew = 0;  // hub clock - page clock (ms)
    this.requests = 0;
    this.link = new Link({
      login,
      resumeFrom: () => this.model.lastSeq,
      onMessage: (message) => this.receive(message),
      onState: (state, detail) => this.linkChanged(state, detail),
    });
  }

  start() {
    document.getElementById("toolbar").hidden = false;
    document.title = `${this.login} · Agent toolbar`;
    keypad(document.querySelector("#dialer .keypad"));
    this.checkDialler();
    this.wire();
    this.render();
    this.link.open();
    setInterval(() => tick(this.hubNow()), 1000);
  }

  hubNow() {
    return Date.now() + this.skew;
  }

  // the hub tells what the protocol does not: backend name (simulator panel) and its clock
  async loadConfig() {
    try {
      const sent = Date.now();
      const response = await fetch("/config", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const config = await response.json();
      this.skew = config.now - (sent + Date.now()) / 2;
      this.backend = config.backend;
      // the commands the simulator can make fail (Simulator/FailNext): the hub's subtopic registry
      const failable = config.commands ?? [];
      document.getElementById("sim-fail-subtopic").replaceChildren(...failable.map((s) => el("option", { value: s }, s)));
      document.getElementById("sim").hidden = this.backend !== "sim";
      tick(this.hubNow());
    } catch (error) {
      renderAlert({ type: "CONFIG_UNAVAILABLE", text: "Could not read /config.", code: String(error.message ?? error) });
    }
  }

  linkChanged(state, detail) {
    renderLink(state, detail);
    if (state === "connected") {
      this.loadConfig();
      this.send("Agent", "GetStates");
    }
    if (state === "disconnected") {
      renderAlert({ type: "DISCONNECTED", text: "The hub closed this toolbar's connection.", code: detail });
    }
  }

  receive(message) {
    renderLogEntry("in", message, new Date());
    const kind = this.model.apply(message);
    if (kind === "error") this.failed(message);
    else if (String(message.requestId ?? "").startsWith("tb-")) dismissFailures();
    this.render();
  }

  failed(message) {
    const m = message.message ?? {};
    if (m.type === "RESUME_GAP") {
      // the hub could not replay what this page missed; the StateSync answers it sent first
      // have already replaced the page's state
      this.model.forgetSeq();
      renderAlert({ type: m.type, text: "Some events were missed; the toolbar was rebuilt from a fresh StateSync.", code: m.code, kind: "notice" });
      return;
    }
    if (m.type === "UNKNOWN_AGENT") {
      // no toolbar for an agent the hub does not have: say so, and offer the ones it has
      this.link.close();
      document.getElementById("toolbar").hidden = true;
      pickAgent(this.login);
      return;
    }
    const request = m.request;
    const ours = request?.source === SOURCE;
    const cause = request ? `${request.topic}/${request.subtopic}${ours ? "" : ` from ${request.source}`}` : message.topic;
    renderAlert({ type: m.type ?? "ERROR", text: m.text, code: m.code, cause, ours });
  }

  checkDialler() {
    const input = field("dial-number");
    const problem = targetProblem("phone", input.value);
    const typed = input.value.trim() !== "";
    /** @type {HTMLButtonElement} */ (document.querySelector("#dialer button[type=submit]")).disabled = Boolean(problem);
    input.setAttribute("aria-invalid", String(typed && Boolean(problem)));
    const hint = document.getElementById("dial-hint");
    hint.textContent = typed && problem ? problem : `For example ${TARGET_HINT}.`;
    hint.classList.toggle("invalid", typed && Boolean(problem));
  }

  render() {
    const anchor = focusAnchor();
    renderAgent(this.model, this.ui);
    renderContacts(this.model, this.ui);
    restoreFocus(anchor);
    tick(this.hubNow());
  }

  send(topic, subtopic, data) {
    const message = { channel: "Amazon", topic, subtopic, source: SOURCE, requestId: `tb-${++this.requests}` };
    if (data !== undefined) message.data = data;
    renderLogEntry("out", message, new Date());
    if (!this.link.send(message)) {
      renderAlert({ type: "NOT_CONNECTED", text: "Not connected to the hub: the request was not sent.", cause: `${topic}/${subtopic}` });
    }
  }

  // --- input ----------------------------------------------------------------------------------

  wire() {
    document.addEventListener("click", (event) => {
      const button = /** @type {Element} */ (event.target).closest("button");
      if (!button || button.type === "submit") return;
      try {
        this.press(button);
      } catch (error) {
        if (!(error instanceof ToolbarError)) throw error;
        renderAlert({ type: error.type, text: error.message });
      }
    });
    const submit = (id, handler) => document.getElementById(id).addEventListener("submit", (event) => {
      event.preventDefault();
      handler(event.target);
    });
    submit("state-form", () => {
      const label = field("state-select").value;
      const state = this.model.states.find((s) => s.label === label);
      this.send("Agent", "UpdateState", state ? { label: state.label, code: state.code } : { label });
    });
    submit("dialer", (form) => {
      if (targetProblem("phone", form.digits.value)) return;  // the button waits for a number
      this.send("OutboundCall", "MakeCall", form.digits.value.replace(/[\s().-]/g, ""));
    });
    // targets are checked as they are typed: the buttons that send them wait for a valid one
    document.getElementById("dialer").addEventListener("input", () => this.checkDialler());
    document.getElementById("contacts").addEventListener("input", () => this.render());
    document.getElementById("contacts").addEventListener("change", () => this.render());
    submit("sim-incoming", () => {
      const data = { phoneNumber: field("sim-number").value.trim() };
      const queue = field("sim-queue").value;
      if (queue) data.queue = queue;
      this.send("Simulator", "IncomingCall", data);
    });
    submit("sim-outbound", () => this.send("Simulator", "OutboundResult", { result: field("sim-result").value }));
    submit("sim-fail", () => this.send("Simulator", "FailNext", { subtopic: field("sim-fail-subtopic").value }));
    document.getElementById("contacts").addEventListener("submit", (event) => {
      event.preventDefault();
      const { contact } = contactOf(this.model, event.target);
      if (contact) this.send(contact.topic, "NumberPad", /** @type {HTMLFormElement} */ (event.target).digits.value.trim());
    });
  }

  press(button) {
    const { key, agent, sim } = button.dataset;
    const name = button.dataset.button;
    if (key !== undefined) {
      const input = button.closest("form").querySelector("input");
      input.value += key;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    } else if (name === "numberpad") {
      const { contact } = contactOf(this.model, button);
      if (!contact) return;
      const open = this.ui.padOpen;
      if (open.has(contact.contactId)) open.delete(contact.contactId);
      else open.add(contact.contactId);
      this.render();
      if (open.has(contact.contactId)) button.closest("[data-contact-id]").querySelector(".dtmf input").focus();
    } else if (name) {
      const context = contactOf(this.model, button);
      if (!context.contact) return;
      const [subtopic, data] = CALL_REQUESTS[name](context);
      this.send(context.contact.topic, subtopic, data);
    } else if (agent === "make_call") {
      this.ui.dialerOpen = !this.ui.dialerOpen;
      this.render();
      if (this.ui.dialerOpen) document.getElementById("dial-number").focus();
    } else if (agent) {
      const [subtopic, data] = AGENT_REQUESTS[agent](this.model);
      this.send("Agent", subtopic, data);
    } else if (sim) {
      this.send("Simulator", sim);
    }
  }
}

// --- "/" : choose an agent ------------------------------------------------------------------------

async function pickAgent(unknown = null) {
  document.getElementById("picker").hidden = false;
  const notice = document.getElementById("picker-unknown");
  notice.hidden = unknown === null;
  if (unknown !== null) {
    notice.textContent = `No agent "${unknown}" on this hub.`;
    document.title = "No such agent · Agent toolbar";
  }
  const list = document.getElementById("agent-list");
  try {
    const auth = window.ctibridgeAuth;
    const response = await fetch("/agents", { cache: "no-store", headers: auth.headers() });
    if (response.status === 401) {  // a hub with tokens: ask for one, then list again
      list.replaceChildren();
      auth.ask("This hub needs a token to list its agents.", pickAgent);
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const agents = await response.json();
    list.replaceChildren(...agents.map((a) => el("li", {},
      el("a", { href: `/agent/${encodeURIComponent(a.login)}` }, a.name || a.login),
      el("span", { class: "muted" }, ` ${a.login} · ${a.loginState === "LoggedIn" ? a.state : "logged out"}`),
    )));
  } catch (error) {
    list.replaceChildren(el("li", { class: "alert error", role: "alert" },
      el("strong", {}, "AGENTS_UNAVAILABLE"), ` Could not list agents (${error.message ?? error}).`));
  }
}

const match = location.pathname.match(/^\/agent\/([^/]+)\/?$/);
const login = match ? decodeURIComponent(match[1]) : new URLSearchParams(location.search).get("agent");
if (login) {
  const toolbar = new Toolbar(login);
  window.ctibridgeToolbar = toolbar;  // for debugging from the console
  toolbar.start();
} else {
  pickAgent();
}
