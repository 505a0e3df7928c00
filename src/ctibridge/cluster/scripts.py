"""The Lua scripts that make the cluster safe: each runs atomically inside Redis.

Every key of one agent carries the hash tag ``{login}`` (:func:`keys`), and each script touches
one agent's keys only, so a Redis Cluster keeps them in one slot and runs the script there.

* :data:`LEASE` acquires or renews an agent's lease.  A free agent gets a new fencing epoch
  (``HINCRBY`` on the agent's meta hash, so an epoch is never issued twice, even after the lease
  key expired).
* :data:`APPEND` is the only way an event enters the journal: it checks that the caller holds
  the lease with the epoch it names *and* that its first ``seq`` is the next one, then adds the
  events to the stream (ids ``<seq>-0``), the requestIds of the commands that made them
  (:func:`rids_key`), the snapshot, applies retention and publishes the events (and the
  snapshot) on the agent's own channel (:func:`events_channel`: the nodes following it) - all
  or nothing.  A node that lost its lease gets ``FENCED`` and writes
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


# an agent's events are published on a channel of its own (APPEND): only the nodes that follow
# the agent subscribe to it, not its owner (subscription.py)
EVENTS_PREFIX = f"{PREFIX}:ev:"


def events_channel(login: str) -> str:
    """The channel ``login``'s committed events are published on (the script builds the same
    name: ``channel .. '{' .. login .. '}'``)."""
    return EVENTS_PREFIX + "{" + login + "}"


EVENTS_PREFIX_BYTES = EVENTS_PREFIX.encode()  # (pub/sub messages name their channel in bytes)


def events_login(channel: bytes) -> str | None:
    """The agent whose events channel ``channel`` is (:func:`events_channel`), else None."""
    if not channel.startswith(EVENTS_PREFIX_BYTES):
        return None
    return channel[len(EVENTS_PREFIX_BYTES) + 1 : -1].decode()


def rids_key(login: str) -> str:
    """The requestIds of ``login``'s commands: a sorted set, each scored by when it was
    recorded (ms).  Written only inside the fenced append (so by the lease holder alone),
    read by a node that has just taken the lease: the owner's own copy is authoritative."""
    return f"{PREFIX}:{{{login}}}:rids"


def append_keys(login: str) -> tuple[str, str, str, str]:
    """The keys :data:`APPEND` takes: lease, meta, events, requestIds."""
    return (*keys(login), rids_key(login))


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

# The append of one agent (a Lua function, so that APPEND and APPEND_TICK share it): checks the
# lease and the next seq, adds the events (ids <seq>-0; the last XADD trims to the newest
# maxlen), the snapshot, applies retention by age (at most once a second per agent: the meta
# hash's "cut" is when it last ran) and publishes.  Each redis.call costs the script a few µs
# (measured: bench/cluster.py), so the meta hash is read and written once each.
# -> the agent's last seq, or an error reply "FENCED <lease>" / "SEQ <expected>".
_APPEND_ONE = """
local function append(lease, meta, stream, ridset, node, epoch, first, maxlen, oldest_at, now,
                      state, channel, login, rid_cut, rids, events, asks)
  if redis.call('GET', lease) ~= node .. ':' .. epoch then
    return redis.error_reply('FENCED ' .. tostring(redis.call('GET', lease)))
  end
  local m = redis.call('HMGET', meta, 'seq', 'cut')
  local head = tonumber(m[1] or '0')
  first = tonumber(first)
  local n = #events
  if n > 0 and first ~= head + 1 then
    return redis.error_reply('SEQ ' .. (head + 1))
  end
  local fields = {}
  if #rids > 0 then
    local z = {}
    for i = 1, #rids do z[2 * i - 1], z[2 * i] = now, rids[i] end
    redis.call('ZADD', ridset, unpack(z))
  end
  for i = 1, n - 1 do
    redis.call('XADD', stream, (first + i - 1) .. '-0', 'at', now, 'd', events[i])
  end
  if n > 0 then
    redis.call('XADD', stream, 'MAXLEN', maxlen, (first + n - 1) .. '-0', 'at', now,
               'd', events[n])
    head = first + n - 1
    fields = {'seq', head}
  end
  if tonumber(now) - tonumber(m[2] or '0') >= 1000 then
    fields[#fields + 1], fields[#fields + 2] = 'cut', now
    redis.call('ZREMRANGEBYSCORE', ridset, '-inf', rid_cut)
    local oldest = n > 0 and redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    if oldest and tonumber(oldest[2][2]) < tonumber(oldest_at) then
      -- drop every event older than the cut-off: the first one kept sets the new minimum id
      local keep = nil
      for _, e in ipairs(redis.call('XRANGE', stream, '-', '+')) do
        if tonumber(e[2][2]) >= tonumber(oldest_at) then keep = e[1]; break end
      end
      if keep then redis.call('XTRIM', stream, 'MINID', keep)
      else redis.call('XTRIM', stream, 'MAXLEN', 0) end
    end
  end
  if state ~= '' then fields[#fields + 1], fields[#fields + 2] = 'state', state end
  if #fields > 0 then redis.call('HSET', meta, unpack(fields)) end
  if (n > 0 or state ~= '') and channel ~= '' then
    local name = channel .. '{' .. login .. '}'
    -- (asks: one Redis server, where NUMSUB counts every subscriber: packing the events for
    -- nobody cost more than asking; a node that subscribes later reads them from the stream)
    if not asks or redis.call('PUBSUB', 'NUMSUB', name)[2] > 0 then
      redis.call('PUBLISH', name, cmsgpack.pack({login, head - n + 1, events, state}))
    end
  end
  return head
end
"""

# KEYS: lease, meta, events, requestIds (append_keys).
# ARGV: 1 node, 2 epoch, 3 first seq, 4 max events, 5 oldest "at" kept (ms), 6 now (ms),
#       7 snapshot ("" = unchanged), 8 channel prefix ("" = none; the agent's channel is
#       the prefix, then {login}), 9 login, 10 the oldest requestId kept (ms), 11 k,
#       12.. k requestIds to record, then the events' bytes.
# -> the agent's last seq; errors "FENCED <lease>" and "SEQ <expected first>"
APPEND = (
    _APPEND_ONE
    + """
local k = tonumber(ARGV[11])
return append(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
              ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], {unpack(ARGV, 12, 11 + k)},
              {unpack(ARGV, 12 + k)}, false)
"""
)

# One loop tick of a node on one Redis server (not a Redis Cluster: its keys span slots): APPEND
# for each agent in one call, where a pipeline of one call each cost the node's client a
# command's packing and parsing each.
# KEYS: the append_keys of each agent.
# ARGV: 1 node, 2 max events, 3 oldest "at" kept, 4 now, 5 channel, 6 oldest requestId kept,
#       7 agents, then per agent: epoch, first, snapshot, login, k, k requestIds, n, n events.
# -> per agent its APPEND result (an error reply in the array when refused: the others are
#    written all the same)
APPEND_TICK = (
    _APPEND_ONE
    + """
local out = {}
local agents = tonumber(ARGV[7])
local a = 8
for g = 0, agents - 1 do
  local k = tonumber(ARGV[a + 4])
  local rids = {}
  for i = 1, k do rids[i] = ARGV[a + 4 + i] end
  local n = tonumber(ARGV[a + 5 + k])
  local events = {}
  for i = 1, n do events[i] = ARGV[a + 5 + k + i] end
  local ok, result = pcall(append, KEYS[4 * g + 1], KEYS[4 * g + 2], KEYS[4 * g + 3],
                           KEYS[4 * g + 4], ARGV[1], ARGV[a], ARGV[a + 1], ARGV[2], ARGV[3],
                           ARGV[4], ARGV[a + 2], ARGV[5], ARGV[a + 3], ARGV[6], rids, events,
                           true)
  if not ok then  -- Redis refused a write of this agent's: its error, the others go on
    result = redis.error_reply(type(result) == 'table' and result.err or tostring(result))
  end
  out[#out + 1] = result
  a = a + 6 + k + n
end
return out
"""
)

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
