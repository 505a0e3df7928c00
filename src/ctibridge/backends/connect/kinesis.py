"""The Agent Event Stream consumer: reads Connect's Kinesis stream, shard by shard.

Each shard is read in order from its checkpoint (the sequence number of the last record handed
on), so a restarted hub resumes where it stopped: ``AFTER_SEQUENCE_NUMBER`` the checkpoint, or
``start_position`` (LATEST / TRIM_HORIZON) for a shard never read.  The checkpoint is written
after each batch has been handled — a crash replays at most one batch, which the backend drops
as duplicates (by EventId).  Resharding: a child shard is read only once its parent shards are
finished, from TRIM_HORIZON (its first record follows its parent's last), never in parallel with
them; the shard list is re-read on a timer (``list_seconds``) and when a shard closes, not on
every poll (ListShards has a low quota).  Throttling (``ProvisionedThroughputExceededException``,
HTTP 429) is retried with backoff; an expired iterator is renewed from the checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .throttle import Backoff, is_throttling

log = logging.getLogger("ctibridge.aes")

RecordHandler = Callable[[Mapping[str, Any]], Awaitable[None]]


class Checkpoints:
    """Per-shard sequence numbers of one stream, kept in a small JSON file (atomic writes)."""

    def __init__(self, path: str | Path | None, stream: str) -> None:
        self.path = Path(path) if path else None
        self.stream = stream
        self._all: dict[str, dict[str, str]] = {}
        if self.path is not None and self.path.is_file():
            try:
                self._all = json.loads(self.path.read_text())
            except (OSError, ValueError) as e:
                log.warning("ignoring unreadable checkpoint file %s: %s", self.path, e)

    def get(self, shard_id: str) -> str | None:
        return self._all.get(self.stream, {}).get(shard_id)

    def set(self, shard_id: str, sequence: str) -> None:
        self._all.setdefault(self.stream, {})[shard_id] = sequence
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".checkpoint-")
        with os.fdopen(fd, "w") as f:
            json.dump(self._all, f)
        os.replace(tmp, self.path)


class AesConsumer:
    # errors a poll may meet that the next poll may not: logged, counted, polled again
    transient: tuple[type[Exception], ...] = (ClientError, BotoCoreError)

    def __init__(
        self,
        client: Any,
        stream: str,
        handle: RecordHandler,
        checkpoints: Checkpoints,
        *,
        start_position: str = "LATEST",
        poll_seconds: float = 1.0,
        backoff: Backoff | None = None,
        max_attempts: int = 8,
        list_seconds: float = 30.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream = stream
        self._handle = handle
        self.checkpoints = checkpoints
        self.start_position = start_position
        self.poll_seconds = poll_seconds
        self._backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self._iterators: dict[str, str | None] = {}  # shard -> iterator (None: finished)
        self.list_seconds = list_seconds
        self._now = now
        self._listed_at: float | None = None
        self._shard_list: list[Mapping[str, Any]] = []
        self._relist = False  # a shard closed: its children are to be found
        self._stopping = asyncio.Event()
        self.stats: Counter[str] = Counter()
        self.caught_up = asyncio.Event()  # every shard read to its end at least once

    def reads(self, shard_id: str) -> bool:
        """Is ``shard_id`` read here?  Every shard, alone; in a cluster, the shards this node
        holds the lease of (``ctibridge.cluster.aes``)."""
        return True

    def _stream_args(self) -> dict[str, str]:
        if self.stream.startswith("arn:"):
            return {"StreamARN": self.stream}
        return {"StreamName": self.stream}

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self.client, operation)
        for attempt in range(self.max_attempts):
            try:
                response = await asyncio.to_thread(method, **params)
                assert isinstance(response, dict)
                return response
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                # for Kinesis, LimitExceededException is a per-shard/per-API rate: retried
                rate = is_throttling(code, status) or code == "LimitExceededException"
                if not rate or attempt + 1 == self.max_attempts:
                    raise
                self.stats["throttled"] += 1
                await self._sleep(self._backoff.pause(attempt))
        raise AssertionError("unreachable")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _shards(self) -> list[Mapping[str, Any]]:
        shards: list[Mapping[str, Any]] = []
        params: dict[str, Any] = dict(self._stream_args())
        while True:
            page = await self._call("list_shards", **params)
            shards += page.get("Shards", [])
            token = page.get("NextToken")
            if not token:
                return shards
            params = {"NextToken": token}

    async def _iterator(self, shard_id: str, position: str | None = None) -> str:
        after = self.checkpoints.get(shard_id)
        params: dict[str, Any] = {**self._stream_args(), "ShardId": shard_id}
        if after is not None:
            params |= {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": after,
            }
        else:
            params["ShardIteratorType"] = position or self.start_position
        response = await self._call("get_shard_iterator", **params)
        return str(response["ShardIterator"])

    async def _open_shards(self) -> None:
        """Re-read the shard list when due, and start every shard whose parents are done."""
        now = self._now()
        first = self._listed_at is None
        if first or self._relist or now - self._listed_at >= self.list_seconds:  # type: ignore[operator]
            self._shard_list = await self._shards()
            self._listed_at = now
            self._relist = False
        listed = {str(s["ShardId"]) for s in self._shard_list}
        for shard in self._shard_list:
            shard_id = str(shard["ShardId"])
            if shard_id in self._iterators or not self.reads(shard_id):
                continue
            parents = [
                str(p)
                for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
                if p and (p in listed or p in self._iterators)
            ]
            if any(self._iterators.get(p, "") is not None for p in parents):
                continue  # a parent is still being read (or not started): its records come first
            # a child of shards read here starts at its beginning; so does any shard found after
            # the first listing (it is new); the first listing starts where configured
            position = "TRIM_HORIZON" if parents or not first else None
            self._iterators[shard_id] = await self._iterator(shard_id, position)

    async def poll(self) -> int:
        """Read every open shard once; the number of records handled."""
        await self._open_shards()
        handled = 0
        behind = False
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None or not self.reads(shard_id):
                continue
            try:
                page = await self._call("get_records", ShardIterator=iterator, Limit=1000)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "ExpiredIteratorException":
                    self._iterators[shard_id] = await self._iterator(shard_id)
                    behind = True
                    continue
                raise
            records = page.get("Records") or []
            for record in records:
                handled += await self._one(shard_id, record)
            if records:
                self.checkpoints.set(shard_id, str(records[-1]["SequenceNumber"]))
            self._iterators[shard_id] = page.get("NextShardIterator")
            if self._iterators[shard_id] is None:
                log.info("shard %s is closed", shard_id)
                self._relist = True
            if page.get("MillisBehindLatest", 0) > 0:
                behind = True
        if not behind:
            self.caught_up.set()
        return handled

    async def _one(self, shard_id: str, record: Mapping[str, Any]) -> int:
        self.stats["records"] += 1
        try:
            data = json.loads(record["Data"])
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            await self._handle(data)
        except (ValueError, KeyError) as e:
            self.stats["malformed"] += 1
            log.warning(
                "skipping malformed AES record %s/%s: %s", shard_id, record.get("SequenceNumber"), e
            )
            return 0
        return 1

    async def run(self) -> None:
        """Poll until :meth:`stop`; errors are logged and retried after a pause."""
        while not self._stopping.is_set():
            try:
                handled = await self.poll()
            except self.transient as e:
                self.stats["errors"] += 1
                log.warning("agent event stream: %s", e)
                handled = 0
            if not handled:
                await self._sleep(self.poll_seconds)

    def stop(self) -> None:
        self._stopping.set()
