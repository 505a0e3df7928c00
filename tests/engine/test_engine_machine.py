"""Random sequences of commands and simulator events against the engine, checking invariants.

The oracle for buttons below is written from docs/protocol.md §4.2 row by row, independently of the
engine's own tables, and evaluated on the engine's current snapshot after every step.
"""

from __future__ import annotations

from typing import Any

from engine_driver import Driver, Sent
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ctibridge.model import AgentSnapshot, Connection, Contact
from published_names import PUBLISHED_STATE

AGENTS = ("agent1", "agent2")
CALL_TOPICS = ("InboundCall", "OutboundCall")
Row = dict[str, frozenset[str]]
F = frozenset


def _status(leg: Connection | None) -> str | None:
    return None if leg is None or leg.status == "disconnected" else leg.status


def expected_buttons(contact: Contact) -> dict[str, frozenset[str]]:
    """§4.2, as rows of (agent, customer, third party) statuses -> buttons per role."""
    agent = _status(contact.agent_leg)
    cust = _status(contact.customer_leg)
    third = _status(contact.third_party_leg)
    row: Row
    if contact.state != "live":
        row = {"agent": F({"clearContact"})}  # ACW, missed, rejected, error
    elif contact.kind == "preview" and contact.customer_leg is None:
        row = {}
    elif cust == "connecting" or (agent == "connecting" and contact.kind != "inbound"
                                  and contact.kind != "transfer"):  # fmt: skip
        row = {"customer": F({"disconnect"})}  # outbound dialling
    elif agent == "connecting":
        row = {"agent": F({"answer", "reject"})}  # ringing
    elif agent != "connected":
        row = {}
    elif (cust, third) == ("connected", None):  # rev 2: transfer Hide (published Answer event)
        row = {"agent": F({"consult", "numberpad"}), "customer": F({"disconnect", "hold"})}
    elif (cust, third) == ("hold", None):
        row = {"agent": F({"consult"}), "customer": F({"disconnect", "resume"})}
    elif (cust, third) == ("connected", "connecting"):  # ctibridge row: customer resumed
        row = {
            "agent": F({"numberpad"}),
            "customer": F({"disconnect", "hold"}),
            "third_party": F({"disconnect"}),
        }
    elif third == "connecting" and cust is not None:
        row = {"customer": F({"disconnect", "resume"}), "third_party": F({"disconnect"})}
    elif (cust, third) == ("hold", "connected"):
        row = {
            "agent": F({"swap", "conference", "transfer", "numberpad"}),
            "customer": F({"disconnect", "resume"}),
            "third_party": F({"disconnect", "hold"}),
        }
    elif (cust, third) == ("connected", "hold"):
        row = {
            "agent": F({"swap", "conference", "numberpad"}),
            "customer": F({"disconnect", "hold"}),
            "third_party": F({"disconnect", "resume"}),
        }
    elif (cust, third) == ("connected", "connected"):
        row = {
            "agent": F({"transfer", "numberpad"}),
            "customer": F({"disconnect", "hold"}),
            "third_party": F({"disconnect", "hold"}),
        }
    elif (cust, third) == ("hold", "hold"):  # ctibridge row: both held
        row = {"customer": F({"disconnect", "resume"}), "third_party": F({"disconnect", "resume"})}
    elif cust is None and third == "connected":  # ctibridge rows: customer gone, consult goes on
        row = {"agent": F({"numberpad"}), "third_party": F({"disconnect", "hold"})}
    elif cust is None and third == "hold":
        row = {"third_party": F({"disconnect", "resume"})}
    elif cust is None and third == "connecting":
        row = {"third_party": F({"disconnect"})}
    else:
        raise AssertionError(f"no §4.2 row for {agent=} {cust=} {third=}")
    result = {}
    for conn in contact.connections:
        gone = conn.status == "disconnected" and conn.role != "agent"
        result[conn.connection_id] = F() if gone else row.get(conn.role, F())
    return result


AGENT_BUTTONS = {"NotReady", "Ready", "make_call", "mute", "unmute"}


def expected_agent_buttons(snap: AgentSnapshot) -> frozenset[str]:
    """§4.4 as the published samples show it, from the snapshot alone: any contact makes the
    shown state a system or error state (not routable)."""
    if not snap.logged_in:
        return F()
    live = any(not c.ended for c in snap.contacts)
    routable = snap.state.type == "routable" and not snap.contacts
    on = {"NotReady", "unmute" if snap.muted else "mute"}
    on |= set() if routable else {"Ready"}
    on |= set() if live else {"make_call"}
    return F(on)


def enabled(call_message: dict[str, Any]) -> frozenset[str]:
    items = call_message["ButtonStates"]["items"]
    return frozenset(k for k, v in items.items() if v == "Enable")


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.d = Driver(seed=3)
        self.d.send("agent2", "Simulator", "Configure", {"answerSeconds": 0})
        self.checked = 0
        self.last_seq = {login: 0 for login in AGENTS}
        # the buttons last sent for each live connection, per agent
        self.shown: dict[tuple[str, str], frozenset[str]] = {}
        # per agent: the last SetAgentState's state name and buttons, and a CcpAgentState owed
        self.agent_shown: dict[str, tuple[str, frozenset[str]]] = {}
        self.ccp_owed: dict[str, tuple[str, str] | None] = {login: None for login in AGENTS}

    # helpers ---------------------------------------------------------------------------------

    def snap(self, login: str = "agent1") -> AgentSnapshot:
        return self.d.engine.session(login).snapshot

    def ids(self) -> list[str]:
        out = []
        for c in self.snap().contacts:
            out.append(c.contact_id)
            out += [x.connection_id for x in c.connections]
        return out

    def command(self, topic: str, subtopic: str, data: Any = None, origin: str = "app") -> None:
        before = {login: self.snap(login) for login in AGENTS}
        sent = self.d.send("agent1", topic, subtopic, data, origin)
        self.check_answer(sent, subtopic)
        self.check_connections(sent, before)

    def check_answer(self, sent: list[Sent], subtopic: str) -> None:
        """Every request is answered exactly once: its events, or one error, or one reply."""
        rids = {str(m.message["requestId"]) for m in sent if m.message.get("requestId")}
        rid = max(rids, key=lambda r: int(r[1:])) if rids else None
        assert rid is not None, f"{subtopic} was not answered"
        mine = [m for m in sent if m.message.get("requestId") == rid]
        errors = [m for m in mine if m.message["subtopic"] == "Error"]
        if errors:
            assert len(mine) == 1, f"{subtopic}: an error and other answers {mine}"
        elif any(m.origin is not None for m in mine):
            assert len(mine) == 1 and mine[0].origin == "app"
        else:
            assert mine, f"{subtopic}: no events"

    def check_connections(self, sent: list[Sent], before: dict[str, AgentSnapshot]) -> None:
        """No event names a connection that neither existed before the step nor exists now."""
        for m in sent:
            call = m.message.get("message", {}).get("call")
            if call is None:
                continue
            conn_id = call["id"]
            known = set()
            for snap in (before[m.login], self.snap(m.login)):
                for c in snap.contacts:
                    known |= {x.connection_id for x in c.connections}
            assert conn_id in known, f"event for unknown connection {conn_id}"

    # rules -------------------------------------------------------------------------------------

    @rule(number=st.sampled_from(["+15551230001", "+15551230002"]), ring=st.sampled_from([0, 5]))
    def incoming(self, number: str, ring: int) -> None:
        self.command("Simulator", "IncomingCall", {"phoneNumber": number, "ringSeconds": ring})

    @rule()
    def answered_call(self) -> None:
        """A shortcut to a connected 2-party call, so deeper situations are reached often."""
        self.command("Simulator", "IncomingCall", {"phoneNumber": "+15551230003"})
        self.command("InboundCall", "Answer")

    @rule(
        to=st.sampled_from(["+15557654321", "agent2"]),
        then=st.lists(
            st.sampled_from(
                [("InboundCall", "Swap"), ("InboundCall", "Conference"), ("InboundCall", "Hold"),
                 ("InboundCall", "Resume"), ("Simulator", "CustomerHangup"),
                 ("InboundCall", "Transfer"), ("InboundCall", "ConsultDrop")]
            ),
            min_size=1,
            max_size=3,
        ),
    )  # fmt: skip
    def answered_consult(self, to: str, then: list[tuple[str, str]]) -> None:
        self.command("InboundCall", "Consult", to)
        self.command("Simulator", "ThirdPartyAnswer", {})
        for topic, subtopic in then:
            self.command(topic, subtopic, {} if topic == "Simulator" else None)

    @rule(
        topic=st.sampled_from(CALL_TOPICS),
        subtopic=st.sampled_from(
            [
                "Answer",
                "Reject",
                "Hold",
                "Resume",
                "Disconnect",
                "ClearContact",
                "Swap",
                "Conference",
                "ConsultDrop",
                "AcceptWarmTransfer",
                "Skip",
                "StateSync",
                "Transfer",
            ]
        ),
    )
    def call_verb(self, topic: str, subtopic: str) -> None:
        self.command(topic, subtopic)

    @rule(
        subtopic=st.sampled_from(["Hold", "Resume", "Disconnect", "ClearContact"]),
        pick=st.integers(0, 5),
        other=st.booleans(),
    )
    def verb_with_id(self, subtopic: str, pick: int, other: bool) -> None:
        ids = self.ids() if not other else [
            x.connection_id for c in self.snap("agent2").contacts for x in c.connections
        ]  # fmt: skip
        some = ids[pick % len(ids)] if ids else "00000000-0000-4000-8000-000000000000"
        self.command("InboundCall", subtopic, some)

    @rule(
        to=st.sampled_from(
            ["+15557654321", "agent2", "Billing", "nobody", {"quickConnect": "Supervisor"}]
        )
    )
    def consult(self, to: Any) -> None:
        self.command("InboundCall", "Consult", to)

    @rule(to=st.sampled_from(["+15557654321", "agent2"]))
    def blind_transfer(self, to: str) -> None:
        self.command("OutboundCall", "Transfer", to)

    @rule(queue=st.sampled_from(["Sales", "Nope"]), warm=st.booleans())
    def queue_transfer(self, queue: str, warm: bool) -> None:
        self.command("OutboundCall", "QueueTransfer", {"queueName": queue, "isWarmTransfer": warm})

    @rule(digits=st.sampled_from(["1", "12#", "*9,0"]))
    def digits(self, digits: str) -> None:
        self.command("InboundCall", "NumberPad", digits)

    @rule(topic=st.sampled_from(CALL_TOPICS))
    def make_call(self, topic: str) -> None:
        self.command(topic, "MakeCall", "+15559870000")

    @rule()
    def accept_preview(self) -> None:
        self.command("OutboundCall", "MakeCall")

    @rule(state=st.sampled_from(["Available", "Break", "Not Ready", "Lunch", "Nope"]))
    def update_state(self, state: str) -> None:
        self.command("Agent", "UpdateState", {"label": state})

    @rule(subtopic=st.sampled_from(["Mute", "Unmute", "Login", "Logout", "StateSync",
                                    "GetStates", "CcpAgentState"]))  # fmt: skip
    def agent_verb(self, subtopic: str) -> None:
        self.command("Agent", subtopic)

    @rule(
        subtopic=st.sampled_from(
            ["CustomerHangup", "ThirdPartyAnswer", "ThirdPartyHangup", "Reset"]
        )
    )
    def sim_event(self, subtopic: str) -> None:
        self.command("Simulator", subtopic, {})

    @rule(result=st.sampled_from(["answer", "busy", "noAnswer", "failed"]))
    def outbound_result(self, result: str) -> None:
        self.command("Simulator", "OutboundResult", {"result": result})

    @rule()
    def preview(self) -> None:
        self.command("Simulator", "PreviewCall", {"phoneNumber": "+15550001111"})

    @rule(subtopic=st.sampled_from(["Answer", "Hold", "ClearContact", "Consult", "UpdateState"]))
    def fail_next(self, subtopic: str) -> None:
        self.command("Simulator", "FailNext", {"subtopic": subtopic})

    @rule(agent2=st.sampled_from(["Answer", "Reject", "ClearContact"]))
    def other_agent(self, agent2: str) -> None:
        before = {login: self.snap(login) for login in AGENTS}
        sent = self.d.send("agent2", "InboundCall", agent2)
        self.check_connections(sent, before)

    @rule(pick=st.integers(0, 50))
    def press_an_enabled_button(self, pick: int) -> None:
        """An Enable button's verb is never refused by the engine (§4.2, revision 2)."""
        contact = self.snap().voice_contact
        if contact is None:
            return
        pressable = sorted(
            (conn.role, conn.connection_id, b)
            for conn in contact.connections
            for b in self.shown.get(("agent1", conn.connection_id), F())
        )
        if not pressable:
            return
        role, conn_id, button = pressable[pick % len(pressable)]
        verb, data = {
            "answer": ("Answer", None), "reject": ("Reject", None),
            "clearContact": ("ClearContact", None), "consult": ("Consult", "+15557654321"),
            "numberpad": ("NumberPad", "1"), "swap": ("Swap", None),
            "conference": ("Conference", None), "transfer": ("Transfer", None),
            "hold": ("Hold", conn_id), "resume": ("Resume", conn_id),
            "disconnect": ("Disconnect", conn_id),
        }[button]  # fmt: skip
        self.d.take_finished()
        self.command("InboundCall", verb, data)
        outcomes = [f.outcome for f in self.d.take_finished() if f.login == "agent1"]
        assert "refused" not in outcomes, (button, role, contact)

    @rule(seconds=st.sampled_from([1, 3, 6, 21]))
    def time_passes(self, seconds: int) -> None:
        before = {login: self.snap(login) for login in AGENTS}
        self.check_connections(self.d.advance(seconds), before)

    # invariants --------------------------------------------------------------------------------

    @invariant()
    def seq_and_buttons(self) -> None:
        self.seq_increases_by_one()
        self.buttons_match_the_table()

    def seq_increases_by_one(self) -> None:
        for m in self.d.sent[self.checked :]:
            seq = m.message.get("seq")
            if m.origin is None:
                assert seq == self.last_seq[m.login] + 1, (m.login, seq, self.last_seq)
                self.last_seq[m.login] = seq
                call = (
                    m.message["message"].get("call") if m.message["subtopic"] != "Error" else None
                )
                if call is not None:
                    self.shown[(m.login, call["id"])] = enabled(call)
                self.check_agent_message(m)
            else:
                assert seq is None, "answers to one app carry no seq"
        self.checked = len(self.d.sent)

    def check_agent_message(self, m: Sent) -> None:
        """Revision 2: SetAgentState's published names and buttons; after a change of the state
        shown, a CcpAgentState with the same name and type comes next."""
        owed = self.ccp_owed[m.login]
        sub = m.message["subtopic"]
        if owed is not None:
            assert sub == "CcpAgentState", (m.login, owed, m.message)
            assert (m.message["message"]["name"], m.message["message"]["type"]) == owed
            self.ccp_owed[m.login] = None
            return
        if sub in ("LoginSuccess", "LogoutSuccess"):
            self.agent_shown.pop(m.login, None)  # a new session of the agent: nothing to compare
        if sub != "SetAgentState":
            return
        message = m.message["message"]
        data, states = message["data"], message["rules"]["ButtonStates"]
        assert data["state"] == PUBLISHED_STATE[data["type"]]
        assert ("reasonCode" in data) is (data["state"] == "Not_Ready")
        items = states["items"]
        assert states["count"] == len(items)
        assert set(items) in ({"mute", "unmute"}, AGENT_BUTTONS)
        on = F(k for k, v in items.items() if v == "Enable")
        name = message["event"]
        last = self.agent_shown.get(m.login)  # None: the first one seen (nothing to compare)
        if states["count"] == 2:  # a Mute/Unmute event: the other buttons stand
            assert last is not None
            on |= last[1] - {"mute", "unmute"}
        self.agent_shown[m.login] = (name, on)
        if last is not None and name != last[0]:
            self.ccp_owed[m.login] = (name, data["type"])

    def buttons_match_the_table(self) -> None:
        for login in AGENTS:
            for contact in self.snap(login).contacts:
                for conn_id, want in expected_buttons(contact).items():
                    got = self.shown.get((login, conn_id))
                    assert got == want, (login, contact, conn_id, got, want)
            snap = self.snap(login)
            assert not snap.muted or any(not c.ended for c in snap.contacts), "mute ends"
            if login in self.agent_shown and snap.logged_in:
                assert self.agent_shown[login][1] == expected_agent_buttons(snap), (login, snap)


EngineMachine.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngineMachine = EngineMachine.TestCase
