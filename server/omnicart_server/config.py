"""Settings from command-line flags and OMNICART_* environment variables; the only reader of os.environ."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from omnicart_server.db.engine import is_sqlite_url

logger = logging.getLogger(__name__)

DEV_SECRET_KEY = "omnicart-dev-key-NOT-SECRET"
"""Well known on purpose: with --dev, tokens survive restarts without any setup, and nobody mistakes it for safe."""

ENV_PREFIX = "OMNICART_"


class ConfigError(Exception):
    """The settings cannot run a server; the message says what to set."""


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Everything the server reads at start; each field is also `OMNICART_<FIELD>` in the environment."""

    host: str = "127.0.0.1"
    port: int = 8000
    db_url: str = "sqlite+aiosqlite:///omnicart.db"
    redis_url: str | None = None
    redis_pool_size: Annotated[int, msgspec.Meta(ge=2)] = 32
    """Redis connections per process for each client (fan-out, rate limits); the live-stream subscription holds
    one. Work beyond them waits for a free one instead of failing."""
    db_pool_size: Annotated[int, msgspec.Meta(ge=1)] = 20
    """PostgreSQL connections per process, opened as needed and kept; requests beyond them wait for a free one. Keep
    workers x this under the server's max_connections."""
    db_pool_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """How long a request waits for a free PostgreSQL connection before it is answered 503 with Retry-After."""
    catalog: str | None = None
    """Path of a catalog JSON file; None serves the bundled demo catalog."""
    workers: int = 1
    dev: bool = False
    secret_keys: tuple[str, ...] = ()
    """Token signing keys, newest first: new tokens use the first, older ones verify until removed."""
    session_ttl_seconds: int = 24 * 3600
    session_cache_seconds: float = 1.0
    """How long a session found valid is trusted without reading its row again. A revocation takes effect at once
    in the process that made it, and within this long in the others; 0 reads the row on every request."""
    customer_token_ttl_seconds: int = 90 * 24 * 3600
    max_qty_per_line: int = 999
    max_lines_per_cart: int = 200
    max_ops_per_batch: int = 100
    max_body_bytes: int = 256 * 1024
    idempotency_retention_seconds: int = 24 * 3600
    event_retention_seconds: int = 0
    """Events older than this are pruned from the logs; 0 keeps every event (the audit trail) forever."""
    housekeeping_interval_seconds: float = 600.0
    """How often retention runs."""
    presence_grace_seconds: float = 5.0
    """A device stays present this long after its last socket goes, so a quick reconnect does not flap."""
    stream_queue_size: int = 1024
    """Frames queued per socket; a client that falls this far behind is cut (4008) and resumes."""
    max_sockets_per_customer: int = 32
    """Per process: it bounds what one process holds for a customer (N processes admit up to N x this)."""
    max_frame_bytes: int = 64 * 1024
    handoff_ttl_seconds: int = 300
    handoff_claims_per_address_per_minute: int = 10
    """Claim attempts one client address may make per minute: bounds code guessing."""
    handoff_claims_per_customer_per_minute: int = 10
    handoff_offers_per_customer_per_minute: int = 10
    public_url: str | None = None
    """Base URL devices reach this server at, for handoff links and QR codes; default http://host:port."""
    agent_session_ttl_seconds: int = 15 * 60
    """Agent sessions are short: refresh them (in-band) while the shopper's consent stands."""
    assist_pin_ttl_seconds: int = 10 * 60
    assist_pin_attempts_per_agent_per_minute: int = 10
    assist_pin_attempts_per_key_per_minute: int = 60
    """Pickups per API key: the agent id is the caller's word, so the key bounds PIN guessing too."""
    transactions_file: str | None = None
    """JSON file of transaction kinds as state machines; None ships checkout, booking, return, support_case."""
    transaction_lease_seconds: int = 120
    """How long a device keeps driving a transaction after its last step, unless another takes it over."""
    cart_abandoned_after_seconds: int = 24 * 3600
    """An untouched non-empty cart emits cart.abandoned once after this long; 0 never."""
    anonymous_purge_after_seconds: int = 30 * 24 * 3600
    """Anonymous customers (no identity, no order) inactive this long are deleted; 0 never."""
    jobs_interval_seconds: float = 30.0
    """How often the background jobs (abandonment, purge, webhook fan-out) run, in one process at a time."""
    webhook_max_attempts: int = 8
    webhook_retry_base_seconds: float = 5.0
    """Retries wait base x 4^(attempt-1): 5 s, 20 s, 80 s ... then the delivery is parked."""
    webhook_timeout_seconds: float = 10.0
    merge_strategy: str = "sum_quantities"
    """How carts merge when an anonymous customer logs in as a known one (omnicart.protocol.MergeStrategy)."""
    hello_timeout_seconds: float = 10.0
    ws_ping_interval_seconds: float = 20.0
    """WebSocket pings find dead peers; one unanswered for as long again closes the socket (1011). One timer per
    process sends them, a slice of the sockets at a time (stream/keepalive.py); 0 turns them off."""
    log_level: str = "info"
    gc_young_threshold: Annotated[int, msgspec.Meta(ge=0)] = 20_000
    """Allocations between young-generation collections (CPython's default is 700). With thousands of sockets
    open, the default promotes every in-flight request's objects and sets off full collections that walk every
    socket (over a second at 10,000); 20,000 lets them die young (BENCHMARKS.md, issue 8). 0 turns the collector
    off."""
    access_log: bool = True
    """One log line per HTTP request, at log level info. It took ~8 % of a cart write's CPU in a profile (issue 8),
    and the request metrics (/metrics) count the same requests, so busy deployments may turn it off."""

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite_url(self.db_url)

    def signing_keys(self) -> tuple[str, ...]:
        """The key ring to sign with, refusing to run without a real key unless in development."""
        if self.secret_keys:
            return self.secret_keys
        if self.dev:
            logger.warning("--dev: tokens are signed with the well-known development key; never use this in production")
            return (DEV_SECRET_KEY,)
        raise ConfigError(
            "No signing key: set OMNICART_SECRET_KEYS to one or more long random secrets (newest first, "
            "comma-separated), or pass --dev to use the well-known development key."
        )

    def to_env(self) -> dict[str, str]:
        """These settings as OMNICART_* variables, so worker processes rebuild the same Settings."""
        env: dict[str, str] = {}
        for name, value in msgspec.structs.asdict(self).items():
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "1" if value else "0"
            env[ENV_PREFIX + name.upper()] = str(value)
        return env


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, then flags (`overrides`, None values ignored) on top."""
    source = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        value = source.get(ENV_PREFIX + field.name.upper())
        if value is None:
            continue
        if field.name == "secret_keys":
            raw[field.name] = tuple(key.strip() for key in value.split(",") if key.strip())
        elif field.type is bool:
            raw[field.name] = value.strip().lower() in ("1", "true", "yes", "on")
        else:
            raw[field.name] = value
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"Invalid setting: {exc}") from exc


def export_to_environ(settings: Settings) -> None:
    """Publish the settings to this process's environment, where uvicorn's worker processes read them back."""
    os.environ.update(settings.to_env())
