"""Configuration in one place: a typed settings value built by the CLI and passed down.

Top-level keys are the server's; each concern has its own section (``[auth]``, ``[limits]``,
``[journal]``, ``[audit]``, ``[log]``, and for Amazon Connect ``[connect]``, ``[bridge]``),
which is also a TOML table of the config file and a ``CTIBRIDGE_<SECTION>_<KEY>`` environment
prefix (``config.load_settings``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

BackendName = Literal["sim", "streams", "connect", "hybrid"]


class AuthSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who may act for which agent (tokens, docs/protocol.md §1) and which web pages may connect."""

    # HMAC-SHA256 key that signs tokens (`ctibridge token create`); set it with
    # CTIBRIDGE_AUTH_SECRET or secret_file rather than in a config file others can read
    secret: str | None = None
    secret_file: str | None = None
    # serve without tokens: every app may act for every agent (loopback only, `make run`)
    insecure: bool = False
    # browser origins (scheme://host[:port]) allowed besides the hub's own; "*" allows any
    allowed_origins: tuple[str, ...] = ()
    # lifetime of a token made by `ctibridge token create` without --ttl
    default_ttl_s: int = 86_400


class LimitSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one app, one agent and the whole hub may use; what a dead or slow app may hold."""

    # per connection: messages per second (token bucket) and the burst it tolerates
    rate_per_s: float = 100.0
    rate_burst: int = 200
    # HTTP POSTs per agent: the same kind of bucket
    http_rate_per_s: float = 50.0
    http_rate_burst: int = 100
    max_connections: int = 10_000
    max_connections_per_agent: int = 32
    # messages waiting to be written to one app before it is dropped as too slow (close 1013)
    send_queue: int = 10_000
    # ... or this many bytes waiting, or an app this many seconds behind (its oldest waiting
    # message queued that long ago): a stalled app is dropped long before the count is reached
    send_queue_bytes: int = 8 << 20
    send_queue_age_s: float = 30.0
    # resuming (resumeFrom=) reads the journal in pages of this many events, off the event loop;
    # each token (each app without tokens) may start this many resumes per second (burst)
    replay_page: int = 500
    resume_rate_per_s: float = 1.0
    resume_burst: int = 10
    # WebSocket frames and HTTP bodies up to this size are read (and answered FRAME_TOO_LARGE
    # above 64 KiB); larger WebSocket frames close the connection (1009)
    max_message_bytes: int = 1 << 20
    # keepalive: a ping every interval; no pong within the timeout closes the connection (1011)
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    # close a connection that has sent nothing for this long (4408); 0 = never
    idle_timeout_s: float = 0.0
    # a closing handshake the peer does not complete in this time ends with the TCP connection
    close_timeout_s: float = 10.0
    # SIGTERM: how long to wait for in-flight commands and for apps to take their last events
    drain_timeout_s: float = 10.0


class JournalSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where broadcast events are kept for resume (docs/protocol.md §6) and for how long."""

    # SQLite file (WAL); None keeps events in memory only (lost on restart)
    path: str | None = None
    # per agent, the newest this many events are kept ...
    max_events: int = 10_000
    # ... and none older than this
    max_age_s: float = 7 * 86_400.0
    # "normal" survives a crash of the process; "full" also a power loss (fsync per commit)
    synchronous: Literal["normal", "full"] = "normal"


class ClusterSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Cluster mode (docs/operations.md "Running a cluster"): nodes sharing one Redis."""

    # redis://HOST:PORT/DB; None = one process with its own journal ([journal])
    redis_url: str | None = None
    # this node's name in leases and routing (unique per node); empty = host name + port
    node_id: str = ""
    # an agent's owner renews its lease every third of this; a dead owner's agents are taken
    # over within lease_ms + one renewal
    lease_ms: int = 3000


class AuditSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # JSON lines, one per command (who, what, result); None: the "ctibridge.audit" logger
    path: str | None = None
    # NumberPad digits (card numbers, PINs) are written as "****1234": only the last this many
    # digits are kept; -1 writes them in full
    dtmf_visible_digits: int = 4


class LogSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: Literal["json", "text"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class RateLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A token bucket: ``rate`` requests per second on average, bursts of up to ``burst``."""

    rate: float = 2.0
    burst: int = 5


class ConnectConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    region: str = ""
    instance_id: str = ""
    # https://<alias>.my.connect.aws (the CCP is <instance_url>/ccp-v2); ccp_url overrides it
    instance_url: str = ""
    ccp_url: str = ""
    # login -> Connect user id or user ARN; with discover_users, ListUsers fills in the rest
    agents: dict[str, str] = {}
    discover_users: bool = False
    # StartOutboundVoiceContact: the flow that places the call and the queue it is filed under
    contact_flow_id: str = ""
    outbound_queue_id: str = ""
    source_phone_number: str = ""
    # the Agent Event Stream: a Kinesis stream name or ARN, and where per-shard positions are kept
    kinesis_stream: str = ""
    checkpoint_file: str = "var/aes-checkpoints.json"
    # where a consumer without a checkpoint starts: LATEST (then re-sync) or TRIM_HORIZON
    start_position: str = "LATEST"
    poll_seconds: float = 1.0
    # every Connect API has its own bucket; `rates` overrides it per operation name
    rate: RateLimit = RateLimit()
    rates: dict[str, RateLimit] = {}
    max_attempts: int = 6
    # hybrid: how long a bridge snapshot may disagree with the Agent Event Stream
    reconcile_seconds: float = 10.0
    # tests and VPC endpoints; empty = the AWS default
    endpoint_url: str = ""
    kinesis_endpoint_url: str = ""

    @property
    def user_ids(self) -> dict[str, str]:
        """login -> user id (an ARN is reduced to its last path segment)."""
        return {login: ref.rsplit("/", 1)[-1] for login, ref in self.agents.items()}

    @property
    def ccp(self) -> str:
        if self.ccp_url:
            return self.ccp_url
        return self.instance_url.rstrip("/") + "/ccp-v2" if self.instance_url else ""

    def limit(self, operation: str) -> RateLimit:
        return self.rates.get(operation, self.rate)


class BridgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # agents served by the bridge when [connect] names none
    agents: list[str] = []
    heartbeat_seconds: float = 5.0
    # a bridge not heard from for this long is gone
    timeout_seconds: float = 15.0
    # how long a successful action waits for the snapshot that shows its effect
    settle_ms: int = 2000
    # the amazon-connect-streams bundle; empty = the copy `make deps` puts beside the page
    streams_js: str = ""
    # SAML instances: the IdP sign-in URL (with RelayState to the CCP); empty = the CCP's own
    login_url: str = ""
    # browsers blocking third-party cookies: let Streams ask for storage access first
    storage_access: bool = False
    # how long Streams waits for the CCP before offering the sign-in button (Streams' default)
    ccp_load_timeout_ms: int = 5000
    # the state the agent is put in when the bridge page closes
    offline_state: str = "Offline"


class Settings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8765
    backend: BackendName = "sim"
    # a command without a backend result by then fails with code "timeout" (§6)
    command_deadline_ms: int = 10_000
    # the simulator: demo agents and deterministic ids (None: random)
    sim_agents: int = 5
    sim_seed: int | None = None
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    journal: JournalSettings = JournalSettings()
    cluster: ClusterSettings = ClusterSettings()
    audit: AuditSettings = AuditSettings()
    log: LogSettings = LogSettings()
    # the Amazon Connect backends (streams, connect, hybrid)
    connect: ConnectConfig = ConnectConfig()
    bridge: BridgeConfig = BridgeConfig()

    def logins(self) -> list[str]:
        """The agents an Amazon Connect backend serves: [connect.agents], else [bridge] agents."""
        return list(self.connect.agents) or list(self.bridge.agents)
