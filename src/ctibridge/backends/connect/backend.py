"""``ConnectBackend``: agents driven with Amazon Connect's server-side APIs.

What Connect can do server-side, it does: ClearContact -> ``DismissUserContact``; UpdateState /
SetNotReady / Logout -> ``PutUserStatus`` (a status named in ``ListAgentStatuses``; on a contact
Connect keeps it as the next status); Disconnect of the whole call -> ``StopContact`` (not for
the initiation methods Connect refuses); MakeCall -> ``StartOutboundVoiceContact`` (the flow and
queue of ``[connect]``).  Every other verb (answer, hold, consult, DTMF, mute, login ...) exists
only in the agent's browser and fails with ``requires streams bridge``.

State comes from the Agent Event Stream (:mod:`.kinesis`, mapped by :mod:`.aes`) and from
``GetCurrentUserData``: at start for every agent (100 per request), and after each successful
command for its agent, so the events a command causes carry its requestId.  Records are applied
per agent in EventTimestamp order: a record older than the last one applied, or one already
applied (same EventId), is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ...actions import Action, BackendError, Clear, Dial, Hangup, Logout, SetState
from ...clock import Clock
from ...config import ConnectConfig
from ...model import AgentInfo, AgentSnapshot, AgentState, Directory
from ..base import SnapshotSink
from .aes import OFFLINE, STATUS_TYPE, AgentReport, ReportMapper, from_aes, from_user_data, user_id
from .api import ConnectApi, ConnectError
from .kinesis import AesConsumer, Checkpoints

log = logging.getLogger("ctibridge.connect")

REQUIRES_BRIDGE = "requires streams bridge"
# StopContact refuses voice contacts that reached the agent in these ways (Connect API reference)
NOT_STOPPABLE = frozenset(
    {"TRANSFER", "QUEUE_TRANSFER", "DISCONNECT", "EXTERNAL_OUTBOUND", "MONITOR"}
)
TRANSFERRED = frozenset({"TRANSFER", "QUEUE_TRANSFER"})
SEEN_EVENTS = 512  # EventIds remembered per agent to drop duplicates


@dataclass
class _Agent:
    login: str
    user_id: str
    info: AgentInfo
    snap: AgentSnapshot
    mapper: ReportMapper = field(default_factory=ReportMapper)
    report: AgentReport | None = None
    last_event: int = 0  # EventTimestamp of the last record applied (ms)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    methods: dict[str, str] = field(default_factory=dict)  # contact id -> InitiationMethod
    queues: tuple[tuple[str, str], ...] = ()
    seen_contacts: set[str] = field(default_factory=set)  # contact ids in the last report
    routing_profile_id: str = ""


class ConnectBackend:
    """Implements ``ctibridge.backends.base.Backend`` with boto3 ``connect`` and the AES."""

    name = "connect"
    dynamic_directory = True  # the hub re-reads directory() with every snapshot

    def __init__(
        self,
        clock: Clock,
        config: ConnectConfig,
        api: ConnectApi,
        *,
        kinesis: Any = None,
        logins: Mapping[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self.config = config
        self.api = api
        self._kinesis = kinesis
        self._sink: SnapshotSink | None = None
        self._agents: dict[str, _Agent] = {}
        self._by_user: dict[str, str] = {}
        self._statuses: list[dict[str, Any]] = []
        self._states: tuple[AgentState, ...] = ()
        self._queue_names: dict[str, str] = {}
        # routing profile id -> the quick connects of its queues
        self._quick_connects: dict[str, list[dict[str, Any]]] = {}
        self.consumer: AesConsumer | None = None
        # what start() builds the consumer with (a cluster node shares the shards: cluster/aes.py)
        self.consumer_type: Callable[..., AesConsumer] = AesConsumer
        self._consumer_task: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()
        for login, ref in (logins if logins is not None else config.agents).items():
            self._add(login, user_id(ref))

    def _add(self, login: str, uid: str, name: str | None = None) -> None:
        info = AgentInfo(login=login, name=name or login)
        snap = AgentSnapshot(
            info=info, logged_in=False, state=OFFLINE, state_since=self._clock.now_ms()
        )
        self._agents[login] = _Agent(login=login, user_id=uid, info=info, snap=snap)
        self._by_user[uid] = login

    # --- Backend interface ----------------------------------------------------------------------

    async def start(self, sink: SnapshotSink) -> None:
        self._sink = sink
        if self.consumer is None and self._kinesis is not None and self.config.kinesis_stream:
            self.consumer = self.consumer_type(
                self._kinesis,
                self.config.kinesis_stream,
                self.apply_record,
                Checkpoints(self.config.checkpoint_file, self.config.kinesis_stream),
                start_position=self.config.start_position,
                poll_seconds=self.config.poll_seconds,
            )
        if self.consumer is not None:
            self._consumer_task = asyncio.get_running_loop().create_task(self.consumer.run())

    async def prepare(self) -> None:
        """Before the hub starts: the statuses, the agents (ListUsers when asked) and their
        current state (GetCurrentUserData), so the hub starts from the truth."""
        await self.refresh_statuses()
        if self.config.discover_users:
            for user in await self.api.list_users():
                login = str(user.get("Username", ""))
                if login and login not in self._agents and (not self.config.agents):
                    self._add(login, str(user["Id"]))
                elif login in self._agents and not self._agents[login].user_id:
                    self._agents[login].user_id = str(user["Id"])
        await self.resync()
        await self.refresh_quick_connects()

    async def refresh_quick_connects(self) -> None:
        """Each agent's quick connects: those of its routing profile's queues, as its CCP lists
        them (ListQuickConnects would list the whole instance).  Consult/transfer targets are
        the bridge's to dial, but the names are Connect's: knowing them here lets a request name
        one and get this backend's answer, not "unknown"."""
        by_profile: dict[str, list[dict[str, Any]]] = {}
        for agent in self._agents.values():
            profile = agent.routing_profile_id
            if not profile or profile in by_profile:
                continue
            found: dict[str, dict[str, Any]] = {}
            queues = await self.api.list_routing_profile_queues(profile)
            for queue in {str(q["QueueId"]): q for q in queues if q.get("QueueId")}:
                for qc in await self.api.list_queue_quick_connects(queue):
                    found.setdefault(str(qc.get("Id")), qc)
            by_profile[profile] = list(found.values())
        self._quick_connects = by_profile

    async def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
        if self._consumer_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer_task, 10)
            self._consumer_task = None
        self._sink = None

    def logins(self) -> Sequence[str]:
        return list(self._agents)

    def snapshot(self, login: str) -> AgentSnapshot:
        return self._agents[login].snap

    def directory(self, login: str) -> Directory:
        agent = self._agents[login]
        quick = self._quick_connects.get(agent.routing_profile_id, [])
        return Directory(
            states=self._states,
            queues=tuple(name for name, _ in agent.queues),
            quick_connects=tuple(str(q["Name"]) for q in quick),
            agents=tuple(str(q["Name"]) for q in quick if q.get("QuickConnectType") == "USER"),
        )

    async def execute(self, login: str, action: Action) -> None:
        agent = self._agents[login]
        match action:
            case SetState():
                await self.api.put_user_status(agent.user_id, self._status_id(action.state.label))
            case Logout():
                offline = next((s for s in self._statuses if s.get("Type") == "OFFLINE"), None)
                if offline is None:
                    raise BackendError("ResourceNotFoundException: no OFFLINE agent status")
                await self.api.put_user_status(agent.user_id, str(offline["Id"]))
            case Clear():
                await self._clear(agent, action)
            case Hangup():
                await self._stop_contact(agent, action)
            case Dial():
                await self._dial(agent, action)
            case _:
                raise BackendError(REQUIRES_BRIDGE)
        try:  # show the command's effect now; the event stream would bring it a little later
            await self.resync([login])
        except BackendError as e:
            log.warning("re-sync of %s after %s failed: %s", login, type(action).__name__, e.code)

    def status(self) -> dict[str, object]:
        consumer = self.consumer
        return {
            "backend": self.name,
            "running": self._sink is not None,
            "agents": len(self._agents),
            "loggedIn": sum(1 for a in self._agents.values() if a.snap.logged_in),
            "apiCalls": dict(self.api.calls),
            "apiThrottled": dict(self.api.throttled),
            "events": dict(self.stats),
            "stream": None if consumer is None else {
                "name": consumer.stream, **dict(consumer.stats),
                "caughtUp": consumer.caught_up.is_set(),
            },
        }  # fmt: skip

    # --- commands -------------------------------------------------------------------------------

    def _status_id(self, name: str) -> str:
        for status in self._statuses:
            if status.get("Name") == name:
                return str(status["Id"])
        raise BackendError(f"ResourceNotFoundException: agent status {name} not found")

    async def _clear(self, agent: _Agent, action: Clear) -> None:
        """DismissUserContact; a contact Connect has cleared already (the ACW timeout, the CCP's
        auto-clear of FailedConnect*) is what was asked: success, not a failure."""
        try:
            await self.api.dismiss_user_contact(agent.user_id, action.contact_id)
        except ConnectError as e:
            if e.error_code not in ("ResourceNotFoundException", "InvalidRequestException"):
                raise
            await self.resync([agent.login])
            if agent.snap.contact(action.contact_id) is not None:
                raise

    async def _stop_contact(self, agent: _Agent, action: Hangup) -> None:
        contact = agent.snap.contact(action.contact_id)
        leg = contact.connection(action.connection_id) if contact is not None else None
        if contact is None or leg is None or leg.role == "third_party" or contact.third_party_leg:
            raise BackendError(REQUIRES_BRIDGE)  # a leg of its own: only the CCP can drop it
        method = agent.methods.get(contact.contact_id, "")
        if method in NOT_STOPPABLE:
            raise BackendError(f"{REQUIRES_BRIDGE} (StopContact refuses {method} contacts)")
        await self.api.stop_contact(contact.contact_id)

    async def _dial(self, agent: _Agent, action: Dial) -> None:
        if action.endpoint.kind != "phone":
            raise BackendError(REQUIRES_BRIDGE)
        if not self.config.contact_flow_id:
            raise BackendError("no outbound contact flow: set [connect] contact_flow_id")
        queue_id = self.config.outbound_queue_id
        if action.queue is not None:
            arn = dict(agent.queues).get(action.queue)
            if not arn:
                raise BackendError(f"ResourceNotFoundException: queue {action.queue} not found")
            queue_id = user_id(arn)
        contact_id = await self.api.start_outbound_voice_contact(
            action.endpoint.value, queue_id=queue_id
        )
        agent.mapper.dialled[contact_id] = (action.endpoint.value, action.topic)
        agent.mapper.placed[contact_id] = self._clock.now_ms()

    # --- state ----------------------------------------------------------------------------------

    async def refresh_statuses(self) -> None:
        self._statuses = await self.api.list_agent_statuses()
        self._states = tuple(
            AgentState(
                label=str(s["Name"]),
                code=str(s["Name"]),
                type=STATUS_TYPE.get(str(s.get("Type")), "not_routable"),
            )
            for s in self._statuses
        )

    async def resync(self, logins: Sequence[str] | None = None) -> None:
        """Re-read agents from GetCurrentUserData (every agent when ``logins`` is None)."""
        agents = [self._agents[x] for x in (logins if logins is not None else self._agents)]
        ids = [a.user_id for a in agents if a.user_id]
        if not ids:
            return
        self.stats["resyncs"] += 1
        for entry in await self.api.get_current_user_data(ids):
            user = entry.get("User") or {}
            login = self._by_user.get(user_id(str(user.get("Id") or user.get("Arn") or "")))
            if login is None:
                continue
            report = from_user_data(entry, self._queue_names)
            agent = self._agents[login]
            agent.routing_profile_id = str((entry.get("RoutingProfile") or {}).get("Id") or "")
            if agent.report is not None and agent.report.queues:
                report = msgspec.structs.replace(report, queues=agent.report.queues)
            await self._apply(agent, report)

    async def apply_record(self, record: Mapping[str, Any]) -> None:
        """One Agent Event Stream record (duplicates and stale records are dropped)."""
        event = from_aes(record)
        login = self._by_user.get(user_id(event.agent_arn))
        if login is None:
            self.stats["unknown_agent"] += 1
            return
        agent = self._agents[login]
        if event.event_id in agent.seen:
            self.stats["duplicates"] += 1
            return
        if event.timestamp < agent.last_event:
            self.stats["out_of_order"] += 1
            return
        agent.seen[event.event_id] = None
        while len(agent.seen) > SEEN_EVENTS:
            agent.seen.popitem(last=False)
        agent.last_event = event.timestamp
        self.stats[event.event_type.lower()] += 1
        report = event.report
        if report is None:
            return
        if report.queues:
            agent.queues = report.queues
            self._queue_names.update((arn, name) for name, arn in report.queues)
        if report.name:
            info = agent.info
            agent.info = msgspec.structs.replace(
                info,
                name=report.name,
                routing_profile=report.routing_profile or info.routing_profile,
                queues=tuple(name for name, _ in report.queues) or info.queues,
                arn=event.agent_arn,
            )
        await self._apply(agent, report)

    async def _apply(self, agent: _Agent, report: AgentReport) -> None:
        report = _no_regress(agent.report, report)
        for contact in report.contacts:
            if contact.initiation_method:
                agent.methods[contact.contact_id] = contact.initiation_method
            if contact.contact_id not in agent.mapper.attributes:
                initial = contact.initial_contact_id
                if initial is None and contact.initiation_method.upper() in TRANSFERRED:
                    continue  # a transferred call's attributes are its first contact's: wait
                    # for the event stream to say which one that is (GetCurrentUserData cannot)
                try:
                    attributes = await self.api.get_contact_attributes(
                        initial or contact.contact_id
                    )
                except BackendError as e:
                    log.warning("no attributes for contact %s: %s", contact.contact_id, e.code)
                    attributes = {}
                agent.mapper.attributes[contact.contact_id] = tuple(sorted(attributes.items()))
        live = {c.contact_id for c in report.contacts}
        for cache in (agent.mapper.attributes, agent.methods):
            for cid in [cid for cid in cache if cid not in live]:
                del cache[cid]
        # a dialled contact is remembered until it has been seen and is gone again
        dialled = agent.mapper.dialled
        for cid in [cid for cid in dialled if cid in agent.seen_contacts and cid not in live]:
            del dialled[cid]
        agent.seen_contacts = live
        agent.report = report
        snap = agent.mapper.map(report, agent.info, self._states, self._clock.now_ms())
        agent.snap = snap
        if self._sink is not None:
            self._sink(agent.login, snap)

    def report_of(self, login: str) -> AgentReport | None:
        return self._agents[login].report


def _no_regress(old: AgentReport | None, new: AgentReport) -> AgentReport:
    """``new`` without what is older than ``old`` says.  Connect's reads are eventually
    consistent: GetCurrentUserData right after a command can still show the state before it,
    and a record can arrive late; a status or contact state that started before the one known
    is stale and is kept as known."""
    if old is None:
        return new
    if new.since < old.since and (new.status, new.logged_in) != (old.status, old.logged_in):
        new = msgspec.structs.replace(
            new,
            status=old.status,
            since=old.since,
            logged_in=old.logged_in,
            status_arn=old.status_arn,
            status_type=old.status_type,
            next_status=old.next_status,
        )
    known = {c.contact_id: c for c in old.contacts}
    contacts = tuple(
        known[c.contact_id] if c.contact_id in known and c.since < known[c.contact_id].since else c
        for c in new.contacts
    )
    return msgspec.structs.replace(new, contacts=contacts) if contacts != new.contacts else new
