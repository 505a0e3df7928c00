"""Every message an app receives, checked as it passes: its shape against the published sample,
call buttons against §4.2 for the situation the stream implies, SetAgentState against §4.4, and
``seq`` continuity (§6).  Used by watch mode and by every scenario step."""

from __future__ import annotations

from typing import Any

from . import schema
from .diff import Message, Mismatch
from .rules import CallModel, check_agent_event

Finding = tuple[Message, Mismatch]


def is_call_event(message: Message) -> bool:
    return str(message.get("subtopic", "")).endswith("CallStateChange")


class StreamChecker:
    def __init__(self, seq: bool = True) -> None:
        self.check_seq = seq  # off where the caller does not see every event (scenario steps)
        self.model = CallModel()
        self.last_seq: int | None = None
        self.pending: list[Message] = []
        self.knows_contacts = False  # after a call StateSync or a first call event

    def feed(self, message: Message) -> list[Finding]:
        """What is wrong with ``message`` or, once a change's call events are complete, with any
        of them (each finding names its message)."""
        out: list[Finding] = [(message, m) for m in schema.check(message)]
        seq = message.get("seq")
        if isinstance(seq, int) and self.check_seq:
            if self.last_seq is not None and seq != self.last_seq + 1:
                out.append((message, Mismatch("seq", self.last_seq + 1, seq,
                                              "§6 seq strictly increasing by 1")))  # fmt: skip
            self.last_seq = seq
        if is_call_event(message):
            try:
                if self._starts_batch(message):
                    out += self.flush()
            except (KeyError, TypeError) as e:  # it cannot say which situation it is in
                out.append((message, Mismatch("message.call", "a published shape",
                                              f"unreadable: {e!r}", "§4.1")))  # fmt: skip
                return out
            self.pending.append(message)
            self.knows_contacts = True
            return out
        out += self.flush()
        try:
            if message.get("subtopic") == "StateSync" and message.get("topic") != "Agent":
                self.model.load_sync(message)
                self.knows_contacts = True
            elif message.get("subtopic") == "SetAgentState" and not out:
                on_contact = self.model.on_voice_contact() if self.knows_contacts else None
                out += [(message, m) for m in check_agent_event(message, on_contact)]
        except (KeyError, TypeError, AttributeError) as e:
            out.append((message, Mismatch("message", "a published shape", f"unreadable: {e!r}",
                                          "§4")))  # fmt: skip
        return out

    def _starts_batch(self, message: Message) -> bool:
        """A change's events: agent connection first (§4.1), one per connection, one contact."""
        if not self.pending:
            return False
        actual: Any = message["message"]["call"]["ResponseActual"]
        seen = {e["message"]["call"]["ResponseActual"]["connectionId"] for e in self.pending}
        first = self.pending[0]["message"]["call"]["ResponseActual"]
        return (
            actual["type"] == "agent"
            or actual["connectionId"] in seen
            or actual["contactId"] != first["contactId"]
        )

    def flush(self) -> list[Finding]:
        batch, self.pending = self.pending, []
        if not batch:
            return []
        try:
            return self.model.check_batch(batch)
        except (KeyError, TypeError, AttributeError) as e:
            problem = Mismatch("message.call", "a published shape", f"unreadable: {e!r}", "§4.1")
            return [(batch[0], problem)]
