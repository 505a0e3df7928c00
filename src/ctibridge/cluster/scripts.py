"""The Lua scripts that make the cluster safe: each runs atomically inside Redis.

Every key of one agent carries the hash tag ``{login}`` (:func:`keys`), and each script touches
one agent's keys only, so a Redis Cluster keeps them in one slot and runs the script there.

* :data:`LEASE` acquires or renews an agent's lease.  A free agent gets a new fencing epoch
  (``HINCRBY`` on the agent's meta hash, so an epoch is never issued twice, even after the lease
  key expired).
* :data:`APPEND` is the only way an event enters the journal: it checks that the caller holds
  the lease with the epoch it names *and* that its first ``seq`` is the next one, then adds the
  events to the stream (ids ``<seq>-0``), the snapshot, applies retention and publishes the
  events (and the
  snapshot) to every node - all or nothing.  A node that lost its lease gets ``FENCED`` and writes
  nothing, so no ``seq`` is issued twice even while two nodes believe they own an agent.
* :data:`RELEASE` gives a lease up (a node that stops, or hands an agent over), only if it is
  still the caller's.
* :data:`HEARTBEAT` says a node is alive and where its agents' bridge pages are, and lists
  the live nodes and every bridge (for balancing).
"""

from __future__ import annotations

PREFIX = "ctib"


def keys(login: str) -> tuple[str, str, str]:
    """(lease, meta, events) of ``login``; one hash tag, one Redis Cluster slot."""
    tag = "{" + login + "}"
    return f"{PREFIX}:{tag}:lease", f"{PREFIX}:{tag}:meta", f"{PREFIX}:{tag}:events"


def request_key(login: str, request_id: str) -> str:
    return f"{PREFIX}:{{{login}}}:rid:{request_id}"


# one hash tag for both, so one script may use them on a Redis Cluster
NODES = f"{PREFIX}:{{cluster}}:nodes"  # the live nodes: a sorted set, their last heartbeat (ms)
BRIDGES = f"{PREFIX}:{{cluster}}:bridges"  # login -> the node its Streams bridge page is on


# KEYS: lease, meta.  ARGV: node, lease_ms, the epoch the caller holds ("0": none), and
# "0" to leave a free lease free (the agent hashes to another node; default: take it).
# -> {1, epoch} renewed, {2, epoch} newly acquired, {0, epoch, holder} held by another node,
#    {3, 0} free and left so
LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder, epoch = string.match(cur, '^(.*):(%d+)$')
  if holder == ARGV[1] and (ARGV[3] == '0' or ARGV[3] == epoch) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(epoch)}
  end
  return {0, tonumber(epoch), holder}
end
if ARGV[4] == '0' then return {3, 0} end
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
return {2, epoch}
"""

# KEYS: lease.  ARGV: node, epoch.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] .. ':' .. ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease, meta, events.
# ARGV: 1 node, 2 epoch, 3 first seq, 4 max events, 5 oldest "at" kept (ms), 6 now (ms),
#       7 snapshot ("" = unchanged), 8 channel ("" = none), 9 login, 10.. the events' bytes.
# -> the agent's last seq; errors "FENCED <lease>" and "SEQ <expected first>"
APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ':' .. ARGV[2] then
  return redis.error_reply('FENCED ' .. tostring(redis.call('GET', KEYS[1])))
end
local head = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local first = tonumber(ARGV[3])
local n = #ARGV - 9
if n > 0 and first ~= head + 1 then
  return redis.error_reply('SEQ ' .. (head + 1))
end
for i = 1, n do
  redis.call('XADD', KEYS[3], (first + i - 1) .. '-0', 'at', ARGV[6], 'd', ARGV[9 + i])
end
if n > 0 then
  head = first + n - 1
  redis.call('HSET', KEYS[2], 'seq', head)
  redis.call('XTRIM', KEYS[3], 'MAXLEN', ARGV[4])
  local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
  if oldest and tonumber(oldest[2][2]) < tonumber(ARGV[5]) then
    -- drop every event older than the cut-off: the first one kept sets the new minimum id
    local keep = nil
    for _, e in ipairs(redis.call('XRANGE', KEYS[3], '-', '+')) do
      if tonumber(e[2][2]) >= tonumber(ARGV[5]) then keep = e[1]; break end
    end
    if keep then redis.call('XTRIM', KEYS[3], 'MINID', keep)
    else redis.call('XTRIM', KEYS[3], 'MAXLEN', 0) end
  end
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'state', ARGV[7]) end
if (n > 0 or ARGV[7] ~= '') and ARGV[8] ~= '' then
  local events = {}
  for i = 1, n do events[i] = ARGV[9 + i] end
  redis.call('PUBLISH', ARGV[8], cmsgpack.pack({ARGV[9], head - n + 1, events, ARGV[7]}))
end
return head
"""

# KEYS: nodes, bridges.  ARGV: node, lease_ms, "1" to join ("0": leave), then the agents whose
# bridge page is on this node now.  By Redis's clock, so nodes' clocks need not agree.
# -> {the live nodes (a heartbeat within lease_ms), the caller included; {login, node, ...} of
#    every bridge}
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then redis.call('ZADD', KEYS[1], now, ARGV[1])
else redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10 * tonumber(ARGV[2]))
local mine = {}
for i = 4, #ARGV do
  mine[ARGV[i]] = true
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
end
local bridges = {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] and not mine[all[i]] then redis.call('HDEL', KEYS[2], all[i])
  else bridges[#bridges + 1] = all[i]; bridges[#bridges + 1] = all[i + 1] end
end
return {redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf'), bridges}
"""

# KEYS: lease, meta (of a Kinesis shard).  ARGV: node, epoch, the shard's checkpoint.
# Written only by the shard's reader: a node that lost the lease writes nothing.
CHECKPOINT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ':' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'checkpoint', ARGV[3])
return 1
"""
