"""The subtopic registry is the one table of subtopics: every row has what each part of the
project needs, and nothing keeps a subtopic the registry does not have."""

from __future__ import annotations

import pytest

from ctibridge.backends.sim import SimBackend, catalog
from ctibridge.clock import ManualClock
from ctibridge.engine.commands import AGENT_PLANNERS, CALL_PLANNERS
from ctibridge.protocol import ERROR_TEXT, failure_for, json_schema
from ctibridge.protocol.registry import (
    QUERIES,
    REGISTRY,
    SUBTOPICS,
    unknown_subtopic,
)

ROWS = {row.name: row for row in REGISTRY}


def test_one_row_per_subtopic() -> None:
    assert len(ROWS) == len(REGISTRY)
    names = [n for row in REGISTRY for n in (row.name, *row.aliases)]
    assert len(names) == len(set(names)), "a name or alias is in two rows"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_row_has_what_the_project_needs(name: str) -> None:
    row = ROWS[name]
    schema = json_schema()["$defs"]
    for topic in row.topics:
        for sent in (row.name, *row.aliases):
            assert SUBTOPICS[topic][sent] == (row.name, row.shape_for(topic))
            assert f"{topic}{sent}Request" in schema, "no schema entry"
    shapes = [row.shape_for(t) for t in row.topics]
    assert all(s is None or s.expects for s in shapes), "a data shape must say what it expects"
    if row.kind == "query":
        assert row.failure is None
        assert name in QUERIES
        with pytest.raises(KeyError):
            failure_for(name)
        return
    assert row.failure in ERROR_TEXT, "no error type"
    assert failure_for(name)[1]
    if row.kind == "command":
        assert name in CALL_PLANNERS or name in AGENT_PLANNERS, "no planner"
        assert name in catalog.FAILABLE, "Simulator/FailNext cannot make it fail"
    else:
        sim = SimBackend(ManualClock())
        assert name in sim._simulations, "the simulator has no handler"


def test_nothing_outside_the_registry() -> None:
    commands = {row.name for row in REGISTRY if row.kind == "command"}
    assert set(CALL_PLANNERS) | set(AGENT_PLANNERS) == commands
    assert set(catalog.FAILABLE) == commands


@pytest.mark.parametrize(
    ("topic", "sent", "code"),
    [
        ("InboundCall", "answer", "answer: did you mean Answer?"),
        ("InboundCall", "  HOLD", "  HOLD: did you mean Hold?"),
        ("Agent", "UpdateStat", "UpdateStat: did you mean UpdateState?"),
        ("OutboundCall", "Skipp", "Skipp: did you mean Skip?"),
    ],
)
def test_unknown_subtopic_suggests_the_closest(topic: str, sent: str, code: str) -> None:
    assert unknown_subtopic(topic, sent) == code  # type: ignore[arg-type]


def test_unknown_subtopic_far_from_all_lists_them() -> None:
    code = unknown_subtopic("Agent", "Xyzzy")
    assert code.startswith("Xyzzy: expected one of ")
    assert "UpdateState" in code and "GetAgentState" in code
