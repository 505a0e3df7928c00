"""The AsyncAPI 3 document: valid against the official AsyncAPI 3.0.0 JSON Schema, complete (a
message per request subtopic and per event), its payload schemas accept the published samples
and refuse broken ones, every $ref resolves, and the hub serves it at /asyncapi.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT7

from ctibridge import __version__
from ctibridge import protocol as p
from ctibridge.protocol.schema import event_types, request_types
from livehub import SAMPLES, LiveHub

SPEC = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text()
)
DOC = p.asyncapi_document("hub.example:8765")
URI = "urn:ctibridge:asyncapi"


def spec_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SPEC)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_the_document_is_valid_asyncapi_3() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert spec_errors(DOC) == []
    assert spec_errors(p.asyncapi_document(secured=False)) == []


@pytest.mark.parametrize(
    "breakage",
    ["operation action", "server protocol missing", "channel messages", "asyncapi version"],
)
def test_the_validation_can_fail(breakage: str) -> None:
    broken = copy.deepcopy(DOC)
    if breakage == "operation action":
        broken["operations"]["sendEvent"]["action"] = "publish"  # AsyncAPI 2 wording
    elif breakage == "server protocol missing":
        del broken["servers"]["hub"]["protocol"]
    elif breakage == "channel messages":
        broken["channels"]["agent"]["messages"] = ["not", "a", "map"]
    else:
        broken["asyncapi"] = "2.6.0"
    assert spec_errors(broken) != []


def test_every_request_and_event_has_a_message() -> None:
    names = {t.__name__ for t in [*request_types().values(), *event_types().values()]}
    assert set(DOC["components"]["messages"]) == names
    assert set(DOC["channels"]["agent"]["messages"]) == names
    receive = {r["$ref"].rsplit("/", 1)[1] for r in DOC["operations"]["receiveRequest"]["messages"]}
    send = {r["$ref"].rsplit("/", 1)[1] for r in DOC["operations"]["sendEvent"]["messages"]}
    assert receive == {t.__name__ for t in request_types().values()}
    assert send == {t.__name__ for t in event_types().values()}
    assert DOC["operations"]["receiveRequest"]["action"] == "receive"
    assert DOC["operations"]["sendEvent"]["action"] == "send"
    assert "InboundCallSetHoldRequest" in names  # aliases are messages of their own


def test_every_ref_resolves() -> None:
    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            refs = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return refs + [r for v in node.values() for r in walk(v)]
        if isinstance(node, list):
            return [r for v in node for r in walk(v)]
        return []

    refs = walk(DOC)
    assert len(refs) > 200
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = DOC
        for part in ref[2:].split("/"):
            node = node[part]


def payload_validator(topic: str, subtopic: str, kind: str) -> jsonschema.Draft7Validator:
    types = request_types() if kind == "request" else event_types()
    name = types[topic, subtopic].__name__
    payload = DOC["components"]["messages"][name]["payload"]
    registry: Registry[Any] = Registry().with_resource(URI, DRAFT7.create_resource(DOC))
    return jsonschema.Draft7Validator({"$ref": URI + payload["$ref"]}, registry=registry)


SAMPLE_FILES = sorted(path.name for path in SAMPLES.glob("*.json"))
# published pages whose shape differs from ours on purpose (samples/README.md): where it differs
KNOWN_DIFFERENCES = {
    "incoming-call-event-agent.json": {"message/call/ResponseActual"},  # no previousStatus
    # no nextState [ext], always sent
    "agent-setagentstate-response-3.json": {"message/data"},
    "agent-setagentstate-event.json": {"message/data"},
    "agent-setagentstate-ready-event.json": {"message/data"},
    "agent-loginsuccess-response.json": {"message/agentInfo"},  # no routingProfile, queues [ext]
    "inboundcall-senddtmf-request.json": {""},  # published without the digits we require
}  # fmt: skip


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_published_samples_match_their_payload_schema(name: str) -> None:
    sample = json.loads((SAMPLES / name).read_text())
    kind = "request" if "source" in sample else "event"
    validator = payload_validator(sample["topic"], sample["subtopic"], kind)
    where = {"/".join(map(str, e.absolute_path)) for e in validator.iter_errors(sample)}
    assert where == KNOWN_DIFFERENCES.get(name, set())
    broken = copy.deepcopy(sample)
    broken["topic"] = "Nope"
    assert "topic" in {"/".join(map(str, e.absolute_path)) for e in validator.iter_errors(broken)}


def test_payload_schema_refuses_wrong_data() -> None:
    validator = payload_validator("InboundCall", "NumberPad", "request")
    good = {"channel": "Amazon", "topic": "InboundCall", "subtopic": "NumberPad",
            "source": "crm", "data": "123#"}  # fmt: skip
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({**good, "data": "12x"})) != []
    assert list(validator.iter_errors({**good, "source": ""})) != []


async def test_the_hub_serves_it(live: LiveHub) -> None:
    async with httpx.AsyncClient() as http:
        served = (await http.get(f"{live.http}/asyncapi.json")).json()
    host = f"127.0.0.1:{live.port}"
    assert served == p.asyncapi_document(host, secured=False, version=__version__)
    assert served["servers"]["hub"]["host"] == host
    assert spec_errors(served) == []
