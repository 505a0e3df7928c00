// Rendering: the model onto the page.  Contact cards and connection rows are keyed by id and
// patched in place (so focus and typed input survive updates); every call button exists once
// per row and is shown exactly when the hub's ButtonStates say "Enable".

import { AGENT_BUTTONS, CALL_BUTTONS, agentConnection, roleOf } from "./model.js";

export const BUTTON_LABELS = {
  answer: "Answer", reject: "Reject", disconnect: "Disconnect", hold: "Hold", resume: "Resume",
  clearContact: "Clear contact", consult: "Consult", numberpad: "Dial pad", swap: "Swap",
  transfer: "Transfer", conference: "Conference",
};
const ROLE_LABELS = { agent: "You", customer: "Customer", third: "Third party" };
// a button whose effect depends on the row or the call is labelled by that effect (docs/protocol.md
// §3.1): Disconnect on the customer leg ends the call for the agent, on a third party drops only
// that leg; Transfer with a third party on the line hands the call over and the agent leaves
const ROLE_BUTTON_LABELS = {
  customer: { disconnect: "End call" },
  third: { disconnect: "Drop third party" },
  agent: { disconnect: "Hang up" },
};

/** What pressing `name` on this row does, in words. */
export function buttonLabel(name, role, contact) {
  if (name === "transfer" && role === "agent") {
    const legs = [...contact.connections.values()];
    const third = legs.find((c) => roleOf(contact, c) === "third" && c.status === "connected");
    const customer = legs.find((c) => roleOf(contact, c) === "customer");
    if (third) return customer?.status === "connected" ? "Leave conference" : "Complete transfer";
  }
  return ROLE_BUTTON_LABELS[role]?.[name] ?? BUTTON_LABELS[name];
}

// what a connection's status means to the agent, for the row's text and colour: while the
// agent's leg rings, the customer is connected to Connect but waiting for the agent
function shownStatus(contact, conn, role) {
  const agentLeg = agentConnection(contact);
  const ringing = agentLeg?.status === "connecting" && agentLeg !== conn && conn.status === "connected";
  if (ringing && role === "customer") return { text: "waiting for you", tone: "waiting" };
  if (role === "agent" && conn.status === "connecting") return { text: "ringing", tone: "ringing" };
  return { text: conn.status, tone: conn.status };
}

export const TARGET_HINT = "a phone number such as +15557654321";
const PHONE = /^\+?[0-9]{3,15}$/;

/** Why the typed consult/transfer target cannot be sent, or "" when it can. */
export function targetProblem(kind, value) {
  const text = value.trim();
  if (!text) return "Type a target first.";
  if (kind === "phone" && !PHONE.test(text.replace(/[\s().-]/g, ""))) {
    return `Not a phone number: use ${TARGET_HINT}.`;
  }
  return "";
}
const TOPIC_LABELS = { InboundCall: "Inbound call", OutboundCall: "Outbound call" };
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
export const LOG_LIMIT = 200;

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

// the page's own elements (index.html): their kinds are known here, not to the type checker
/** @type {(id: string) => any} */
const byId = (id) => document.getElementById(id);
/** @param {string} name @returns {HTMLElement} */
const byAgentButton = (name) => /** @type {HTMLElement} */ (document.querySelector(`[data-agent="${name}"]`));

export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Every element with data-since shows the time since then on the hub's clock. */
export function tick(hubNow) {
  for (const node of document.querySelectorAll("[data-since]")) {
    if (!(node instanceof HTMLElement)) continue;
    const since = Number(node.dataset.since);
    node.textContent = Number.isFinite(since) && since > 0 ? formatDuration(hubNow - since) : "";
  }
}

export function keypad(container) {
  container.replaceChildren(
    ...KEYS.map((key) => el("button", { type: "button", dataset: { key }, "aria-label": `digit ${key}` }, key)),
  );
}

// --- connection indicator, agent header --------------------------------------------------------

export function renderLink(state, detail) {
  const link = byId("link");
  link.dataset.state = state;
  byId("link-text").textContent = state;
  byId("link-detail").textContent = detail ? `(${detail})` : "";
  document.body.dataset.link = state;
}

export function renderAgent(model, ui) {
  const a = model.agent;
  const loggedIn = a.loginState === "LoggedIn";
  byId("agent-name").textContent = a.name || a.loginName || model.login;
  byId("agent-login").textContent = a.loginName || model.login;
  byId("agent-state").textContent = loggedIn ? (a.state?.label ?? "unknown") : "Logged out";
  byId("agent-state").dataset.type = loggedIn ? (a.state?.type ?? "") : "logged_out";
  const since = byId("agent-since");
  since.dataset.since = loggedIn && a.since ? String(a.since) : "";
  byId("agent-next").hidden = !a.nextState;
  byId("agent-next-state").textContent = a.nextState?.label ?? "";
  byId("agent-muted").hidden = !a.muted;
  for (const name of AGENT_BUTTONS) {
    byAgentButton(name).hidden = !a.buttons.has(name);
  }
  byAgentButton("Login").hidden = loggedIn;
  byAgentButton("Logout").hidden = !loggedIn;

  const dialerOpen = ui.dialerOpen && a.buttons.has("make_call");
  byId("dialer").hidden = !dialerOpen;
  document.querySelector('[data-agent="make_call"]').setAttribute("aria-expanded", String(dialerOpen));

  // the selector shows the truth: the state the agent will take after this contact when one is
  // set, else the current one — a system state (Busy, AfterCallWork ...) is not selectable, so
  // it is shown as a disabled first entry rather than some other state
  const select = byId("state-select");
  const shownState = a.nextState?.label ?? (loggedIn ? a.state?.label : null);
  const selectable = model.states.map((s) => s.label);
  const current = shownState && !selectable.includes(shownState) ? shownState : null;
  const wanted = [...(current ? [`current:${current}`] : []), ...selectable];
  const have = [...select.options].map((o) => o.value);
  if (wanted.join("\n") !== have.join("\n")) {
    select.replaceChildren(
      ...(current ? [el("option", { value: `current:${current}`, disabled: true }, `${current} (now)`)] : []),
      ...model.states.map((s) => el("option", { value: s.label }, `${s.label} (${s.type.replace("_", " ")})`)),
    );
  }
  if (shownState && document.activeElement !== select) {
    select.value = current ? `current:${current}` : shownState;
  }
  byId("state-select-label").textContent = a.nextState ? "Next state" : "Agent state";
  const queues = byId("sim-queue");
  if (queues.options.length !== a.queues.length) {
    queues.replaceChildren(...a.queues.map((q) => el("option", { value: q }, q)));
  }
}

// --- contacts ----------------------------------------------------------------------------------

function connectionRow(contact, conn) {
  const buttons = CALL_BUTTONS.map((name) =>
    el("button", { type: "button", hidden: true, dataset: { button: name } }, BUTTON_LABELS[name]),
  );
  return el("li", { class: "connection", dataset: { connectionId: conn.connectionId } },
    el("div", { class: "conn-head" },
      el("span", { class: "who" }),
      el("span", { class: "number" }),
      el("span", { class: "type muted" }),
      el("span", { class: "status" }),
      el("span", { class: "timer", title: "time in status" }),
    ),
    el("div", { class: "buttons", role: "group" }, buttons),
  );
}

function contactCard(contact) {
  const id = contact.contactId;
  const titleId = `contact-${id}-title`;
  const targetId = `contact-${id}-target`;
  const kindId = `contact-${id}-kind`;
  const digitsId = `contact-${id}-digits`;
  const hintId = `contact-${id}-target-hint`;
  const pad = el("div", { class: "keypad", role: "group", "aria-label": "Dial pad" });
  keypad(pad);
  return el("article", { class: "contact", tabindex: "-1", "aria-labelledby": titleId, dataset: { contactId: id } },
    el("h3", { id: titleId }, el("span", { class: "topic" }), " ", el("span", { class: "queue muted" })),
    el("ul", { class: "connections" }),
    el("div", { class: "target inline", hidden: true },
      el("label", { for: targetId }, "Consult / transfer to"),
      el("select", { id: kindId, class: "target-kind", "aria-label": "Target kind" },
        el("option", { value: "phone" }, "number"),
        el("option", { value: "quickConnect" }, "quick connect"),
        el("option", { value: "agent" }, "agent"),
      ),
      el("input", { id: targetId, class: "target-value", type: "text", autocomplete: "off", "aria-describedby": hintId }),
      el("span", { id: hintId, class: "target-hint muted", "aria-live": "polite" }, `For example ${TARGET_HINT}.`),
    ),
    el("form", { class: "dialpad dtmf", hidden: true, "aria-label": "Send digits" },
      el("label", { for: digitsId }, "Digits to send"),
      el("input", { id: digitsId, name: "digits", type: "tel", inputmode: "tel", autocomplete: "off" }),
      pad,
      el("button", { type: "submit", class: "primary" }, "Send digits"),
    ),
    el("details", { class: "variables" },
      el("summary", {}, "Call variables"),
      el("dl", {}),
    ),
  );
}

function patchRow(row, contact, conn) {
  const role = roleOf(contact, conn);
  const who = ROLE_LABELS[role];
  const status = shownStatus(contact, conn, role);
  row.dataset.role = role;
  row.dataset.status = conn.status;
  row.dataset.tone = status.tone;
  row.querySelector(".who").textContent = who;
  row.querySelector(".number").textContent = conn.phoneNumber ?? "";
  // the agent's own row: "You", its type would only repeat it
  row.querySelector(".type").textContent = role === "agent" ? "" : conn.type;
  const event = conn.event && conn.event !== conn.status ? ` · ${conn.event}` : "";
  row.querySelector(".status").textContent = `${status.text}${event}`;
  row.querySelector(".timer").dataset.since = conn.since ? String(conn.since) : "";
  const group = row.querySelector(".buttons");
  const whose = role === "agent" ? "Your" : `${who} ${conn.phoneNumber ?? ""}`.trim();
  group.setAttribute("aria-label", `${whose} actions`);
  for (const button of group.querySelectorAll("[data-button]")) {
    const name = button.dataset.button;
    const label = buttonLabel(name, role, contact);
    button.hidden = !conn.buttons.has(name);
    if (button.textContent !== label) button.textContent = label;
    button.removeAttribute("aria-label");  // the visible label says it all
    if (name === "numberpad") button.setAttribute("aria-expanded", "false");
  }
}

function patchCard(card, contact, ui) {
  card.querySelector(".topic").textContent = TOPIC_LABELS[contact.topic] ?? contact.topic;
  card.querySelector(".queue").textContent = contact.queueName ? `· ${contact.queueName}` : "";
  const list = card.querySelector(".connections");
  const rows = new Map([...list.children].map((row) => [row.dataset.connectionId, row]));
  const wanted = [];
  for (const conn of contact.connections.values()) {
    const row = rows.get(conn.connectionId) ?? connectionRow(contact, conn);
    patchRow(row, contact, conn);
    wanted.push(row);
  }
  placeChildren(list, wanted);

  const conns = [...contact.connections.values()];
  const enabled = (name) => conns.some((c) => c.buttons.has(name));
  const thirdParty = conns.some((c) => roleOf(contact, c) === "third");
  // the target is asked for when a consult or a blind transfer (no third party yet) is possible;
  // it sits beside the agent's buttons that send it, which wait until it is a valid target
  const target = card.querySelector(".target");
  target.hidden = !(enabled("consult") || (enabled("transfer") && !thirdParty));
  const agentRow = list.querySelector('[data-role="agent"]');
  if (agentRow && target.parentElement !== agentRow) agentRow.append(target);
  const input = target.querySelector(".target-value");
  const problem = targetProblem(target.querySelector(".target-kind").value, input.value);
  const hint = target.querySelector(".target-hint");
  hint.textContent = input.value.trim() && problem ? problem : `For example ${TARGET_HINT}.`;
  hint.classList.toggle("invalid", Boolean(input.value.trim() && problem));
  input.setAttribute("aria-invalid", String(Boolean(input.value.trim() && problem)));
  for (const name of ["consult", ...(thirdParty ? [] : ["transfer"])]) {
    for (const button of card.querySelectorAll(`[data-role="agent"] [data-button="${name}"]`)) {
      button.disabled = Boolean(problem);
    }
  }
  if (thirdParty) {
    for (const button of card.querySelectorAll('[data-button="transfer"]')) button.disabled = false;
  }
  const padOpen = ui.padOpen.has(contact.contactId) && enabled("numberpad");
  card.querySelector(".dtmf").hidden = !padOpen;
  for (const button of card.querySelectorAll('[data-button="numberpad"]')) {
    button.setAttribute("aria-expanded", String(padOpen));
  }

  const dl = card.querySelector(".variables dl");
  dl.replaceChildren(...contact.variables.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  card.querySelector(".variables summary").textContent = `Call variables (${contact.variables.length})`;
}

/** Make `parent`'s children exactly `wanted`, moving as few nodes as possible. */
function placeChildren(parent, wanted) {
  const keep = new Set(wanted);
  for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
  wanted.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null);
  });
}

export function renderContacts(model, ui) {
  const container = byId("contacts");
  const cards = new Map([...container.children].map((card) => [/** @type {HTMLElement} */ (card).dataset.contactId, card]));
  const wanted = [];
  for (const contact of model.contacts.values()) {
    const card = cards.get(contact.contactId) ?? contactCard(contact);
    patchCard(card, contact, ui);
    wanted.push(card);
  }
  placeChildren(container, wanted);
  byId("no-calls").hidden = model.contacts.size > 0;
  for (const id of ui.padOpen) if (!model.contacts.has(id)) ui.padOpen.delete(id);
}

/** The agent's connection of a card, for the request builders. */
export function contactOf(model, node) {
  const card = node.closest("[data-contact-id]");
  const contact = card ? model.contacts.get(card.dataset.contactId) : undefined;
  if (!contact) return {};
  const row = node.closest("[data-connection-id]");
  const conn = row ? contact.connections.get(row.dataset.connectionId) : agentConnection(contact);
  return { card, contact, conn };
}

// --- focus ---------------------------------------------------------------------------------------

const shown = (node) => node.isConnected && node.getClientRects().length > 0;

/** Remember where focus is, so it can be put somewhere sensible if an update hides it. */
export function focusAnchor() {
  const focused = document.activeElement;
  if (!focused || focused === document.body) return null;
  const row = focused.closest("[data-connection-id]");
  const buttons = row ? [...row.querySelectorAll("[data-button]")] : [];
  return {
    focused,
    row,
    card: focused.closest("[data-contact-id]"),
    index: buttons.indexOf(focused),
  };
}

/** If the focused control vanished: the nearest shown button of the same row, else its card,
 *  else the calls region — never a button somewhere else, which Enter would press by surprise. */
export function restoreFocus(anchor) {
  if (!anchor || shown(anchor.focused)) return;
  if (anchor.row && shown(anchor.row) && anchor.index >= 0) {
    const buttons = [...anchor.row.querySelectorAll("[data-button]")];
    const candidates = buttons
      .map((button, i) => ({ button, distance: Math.abs(i - anchor.index) + (i < anchor.index ? 0.5 : 0) }))
      .filter(({ button }) => shown(button) && !button.disabled)
      .sort((a, b) => a.distance - b.distance);
    if (candidates.length) {
      candidates[0].button.focus();
      return;
    }
  }
  if (anchor.card && shown(anchor.card)) anchor.card.focus();
  else if (anchor.card) byId("calls").focus();
  else if (anchor.focused.closest("header")) /** @type {HTMLElement | null} */ (document.querySelector("header .buttons button:not([hidden])"))?.focus();
}

// --- alerts and the event log ---------------------------------------------------------------------

const ALERT_LIMIT = 5;

/** A readable failure: its type first, then the sentence, the detail and what caused it. */
/** @param {{type: string, text: string, code?: string, cause?: string, kind?: string, ours?: boolean}} alert */
export function renderAlert({ type, text, code, cause, kind = "error", ours = false }) {
  const box = byId("alerts");
  const close = el("button", { type: "button", class: "dismiss", "aria-label": `Dismiss ${type}` }, "×");
  const dataset = ours ? { type, ours: "" } : { type };
  const alert = el("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status", dataset },
    el("strong", { class: "alert-type" }, type),
    " ",
    el("span", { class: "alert-text" }, text ?? ""),
    code ? el("span", { class: "alert-code muted" }, ` (${code})`) : null,
    cause ? el("span", { class: "alert-cause muted" }, ` — ${cause}`) : null,
    close,
  );
  close.addEventListener("click", () => alert.remove());
  box.prepend(alert);
  while (box.children.length > ALERT_LIMIT) box.lastElementChild.remove();
}

/** A later request of this page succeeded: the failures shown for earlier ones are history
 *  (they stay in the event log). */
export function dismissFailures() {
  for (const alert of byId("alerts").querySelectorAll(".alert.error[data-ours]")) alert.remove();
}

function summary(direction, m) {
  if (direction === "out") return `sent ${m.topic}/${m.subtopic}${m.data !== undefined ? ` ${JSON.stringify(m.data)}` : ""}`;
  const call = m.message?.call;
  if (call) {
    const a = call.ResponseActual;
    const status = a.status === call.event ? "" : ` (${a.status})`;
    return `${m.subtopic} ${a.type}${a.phoneNumber ? ` ${a.phoneNumber}` : ""} ${call.event}${status}`;
  }
  if (m.subtopic === "SetAgentState") return `${m.subtopic} ${m.message.event}`;
  if (m.subtopic === "Error") return `${m.topic}/Error ${m.message.type}`;
  return `${m.topic}/${m.subtopic}`;
}

export function renderLogEntry(direction, message, at) {
  const list = byId("log-list");
  const seq = Number.isInteger(message.seq) ? `#${message.seq} ` : "";
  const entry = el("li", { class: `log-${direction}`, dataset: { subtopic: message.subtopic ?? "" } },
    el("details", {},
      el("summary", {},
        el("time", { datetime: at.toISOString() }, at.toLocaleTimeString()),
        ` ${direction === "in" ? "↓" : "↑"} ${seq}${summary(direction, message)}`,
      ),
      el("pre", {}, JSON.stringify(message, null, 2)),
    ),
  );
  list.prepend(entry);
  while (list.children.length > LOG_LIMIT) list.lastElementChild.remove();
  byId("log-count").textContent = `(${list.children.length})`;
}
