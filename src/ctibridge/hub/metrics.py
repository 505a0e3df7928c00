"""The hub's Prometheus metrics, one registry per hub (``GET /metrics``).

Labels are bounded sets (subtopics, outcomes, error types, reasons, action names), never agent
logins or ids, so the number of series does not grow with traffic.

The counts and observations of the hot path (a frame, a command, an event, a message sent, a
backend call, a journal commit) are tallied in plain dicts by :meth:`HubMetrics.count` and
:meth:`HubMetrics.observe` and applied to the Prometheus metrics once per loop tick
(:meth:`HubMetrics.flush`; ``GET /metrics`` flushes first): a labelled ``inc`` takes a lock
and a label lookup each, several times per command, where a tally is a dict update.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .tick import at_tick_end

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
FAST_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1.0)


class HubMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge(
            "ctibridge_app_connections", "Open app WebSocket connections", registry=r
        )
        self.connects = Counter(
            "ctibridge_connections", "App WebSocket connections accepted", registry=r
        )
        self.rejected = Counter(
            "ctibridge_connections_rejected",
            "Connections refused, by reason (auth, forbidden, origin, host, unknown_agent, "
            "agent_limit, hub_limit, resume_rate, draining)",
            ["reason"],
            registry=r,
        )
        self.disconnects = Counter(
            "ctibridge_disconnects",
            "Connections ended, by reason (client, slow, idle, shutdown)",
            ["reason"],
            registry=r,
        )
        self.frames = Counter("ctibridge_frames_received", "Frames received from apps", registry=r)
        self.commands = Counter(
            "ctibridge_commands",
            "Commands finished, by topic, subtopic and outcome "
            "(ok, refused, failed, timeout, forbidden)",
            ["topic", "subtopic", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "ctibridge_command_latency_seconds",
            "From a command's arrival to its result (its events published), by subtopic",
            ["subtopic"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.published = Counter(
            "ctibridge_events_published", "Broadcast events journaled and fanned out", registry=r
        )
        self.sent = Counter(
            "ctibridge_events_sent", "Messages queued to app connections (all kinds)", registry=r
        )
        self.errors = Counter(
            "ctibridge_errors",
            "Error answers and internal errors, by type (INVALID_JSON, RATE_LIMITED, "
            "HOLD_CALL_FAILED, JOURNAL, BACKEND, ...)",
            ["type"],
            registry=r,
        )
        self.backend_calls = Counter(
            "ctibridge_backend_calls",
            "Actions carried out by the backend, by action and outcome",
            ["action", "outcome"],
            registry=r,
        )
        self.backend_throttles = Counter(
            "ctibridge_backend_throttles",
            "Backend calls refused for throttling (Amazon Connect 429 / TooManyRequests)",
            registry=r,
        )
        self.backend_latency = Histogram(
            "ctibridge_backend_call_seconds",
            "Time the backend took to carry out an action",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.journal_lag = Histogram(
            "ctibridge_journal_lag_seconds",
            "Time from an engine step's events to their journal commit: the delay the journal "
            "adds before apps receive them",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.journal_available = Gauge(
            "ctibridge_journal_available",
            "1 while journal writes succeed; 0 while they fail (events are then withheld and "
            "commands refused with code 'journal unavailable')",
            registry=r,
        )
        self.journal_available.set(1)
        self.journal_errors = Counter(
            "ctibridge_journal_errors", "Journal appends or commits that failed", registry=r
        )

        self.audit_dropped = Counter(
            "ctibridge_audit_dropped",
            "Audit records not written: more than the audit writer's queue holds in one loop tick, "
            "or the audit file refused the write",
            registry=r,
        )
        # tallies of this loop tick: (metric, labels) -> count / observations (see the docstring)
        self._counts: dict[tuple[Any, tuple[str, ...]], int] = {}
        self._values: dict[tuple[Any, tuple[str, ...]], list[float]] = {}
        self._scheduled = False

    def count(self, counter: Counter, *labels: str, n: int = 1) -> None:
        """``counter.labels(*labels).inc(n)``, applied at the end of this loop tick."""
        key = (counter, labels)
        self._counts[key] = self._counts.get(key, 0) + n
        if not self._scheduled:
            self._schedule()

    def observe(self, histogram: Histogram, value: float, *labels: str) -> None:
        """``histogram.labels(*labels).observe(value)``, applied at the end of this loop tick."""
        key = (histogram, labels)
        values = self._values.get(key)
        if values is None:
            self._values[key] = [value]
        else:
            values.append(value)
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = at_tick_end(self.flush)
        if not self._scheduled:
            self.flush()

    def flush(self) -> None:
        """Apply this tick's tallies to the Prometheus metrics."""
        self._scheduled = False
        counts, self._counts = self._counts, {}
        values, self._values = self._values, {}
        for (counter, labels), n in counts.items():
            (counter.labels(*labels) if labels else counter).inc(n)
        for (histogram, labels), observed in values.items():
            child = histogram.labels(*labels) if labels else histogram
            for value in observed:
                child.observe(value)
