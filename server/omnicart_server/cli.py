"""The `omnicart` command: serve, migrate, keys create."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from omnicart_server.config import ConfigError, Settings, export_to_environ, load_settings

logger = logging.getLogger("omnicart")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnicart", description="Omnicart sync server.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP and WebSocket server")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.add_argument("--db", dest="db_url", help="database URL (default sqlite+aiosqlite:///omnicart.db)")
    serve.add_argument("--redis", dest="redis_url", help="Redis URL for fan-out across processes")
    serve.add_argument("--catalog", help="catalog JSON file (default: the bundled demo catalog)")
    serve.add_argument("--workers", type=int, help="server processes (default 1)")
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_const",
        const=False,
        help="no log line per HTTP request (the request metrics still count them)",
    )
    serve.add_argument(
        "--dev", action="store_const", const=True, help="development mode: well-known signing key, never in production"
    )

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--db", dest="db_url", help="database URL")

    keys = commands.add_parser("keys", help="manage API keys of trusted backends")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an API key and print it once")
    create.add_argument("--name", required=True, help="who the key is for, e.g. 'crm-backend'")
    create.add_argument("--scope", dest="scopes", action="append", required=True, help="a scope; repeat for several")
    create.add_argument("--db", dest="db_url", help="database URL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "keys_command", "name", "scopes")}
    try:
        settings = load_settings(overrides)
        if args.command == "serve":
            return _serve(settings)
        if args.command == "migrate":
            _migrate(settings)
            return 0
        return _create_key(settings, args.name, args.scopes)
    except ConfigError as exc:
        print(f"omnicart: {exc}", file=sys.stderr)
        return 2


OPEN_FILES_WARNING = 4096
"""Below this many open files a process holds few devices: say so, since the refusals themselves are silent."""


def _allow_open_files() -> None:
    """Raise the open-file limit for this process and its workers, and log it.

    Every connected device holds a socket, and under the usual soft limit (1,024) a process with its own ~50 files
    refuses devices from around the 970th, while memory is still plentiful. Past the limit new connections are
    dropped (the client sees a reset) and nothing is logged, while a write that needs a database file fails with
    503 (BENCHMARKS.md, issue 8, fifteenth session).
    """
    from omnicart_server.open_files import raise_open_file_limit

    limit = raise_open_file_limit()
    if limit is None:
        logger.info("no open-file limit: connected devices per process are bounded by memory alone")
    elif limit < OPEN_FILES_WARNING:
        logger.warning(
            "this process may open only %d files, so it holds fewer than %d connected devices: raise the open-file "
            "limit (ulimit -Hn and ulimit -n, or LimitNOFILE= in a systemd unit)",
            limit,
            limit,
        )
    else:
        logger.info("open-file limit %d: a little under that many connected devices per process", limit)


def _migrate(settings: Settings) -> None:
    from omnicart_server.db.migrate import upgrade_to_head

    upgrade_to_head(settings.db_url)
    logger.info("database is at the newest schema")


def _schema_is_current(settings: Settings) -> bool:
    from sqlalchemy.ext.asyncio import create_async_engine

    from omnicart_server.db.migrate import current_revision, head_revision

    async def check() -> bool:
        engine = create_async_engine(settings.db_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(current_revision) == head_revision()
        finally:
            await engine.dispose()

    return asyncio.run(check())


def _serve(settings: Settings) -> int:
    import uvicorn

    settings.signing_keys()  # refuse to start without a key before binding anything
    if settings.workers > 1 and not settings.redis_url:
        raise ConfigError("--workers above 1 needs --redis, so every process sees every other's writes.")
    if settings.is_sqlite:
        _migrate(settings)
    elif not _schema_is_current(settings):
        raise ConfigError("The database schema is not current: run `omnicart migrate --db URL` first.")
    export_to_environ(settings)
    _allow_open_files()
    if settings.dev:
        logger.info("demo shop at %s/demo, agent console at %s/demo/agent", settings.base_url, settings.base_url)
    uvicorn.run(
        "omnicart_server.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        loop="uvloop",
        http="httptools",
        ws="omnicart_server.stream.keepalive:SweptKeepaliveProtocol",
        timeout_graceful_shutdown=10,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_seconds,
    )
    return 0


def _create_key(settings: Settings, name: str, scopes: list[str]) -> int:
    from omnicart_server.auth.api_keys import create_api_key
    from omnicart_server.db.engine import create_engines

    if settings.is_sqlite:
        _migrate(settings)

    async def create() -> tuple[str, str]:
        write_engine, read_engine = create_engines(settings)
        try:
            async with write_engine.begin() as conn:
                return await create_api_key(conn, name, scopes)
        finally:
            await write_engine.dispose()
            await read_engine.dispose()

    try:
        key_id, key = asyncio.run(create())
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    print(f"created {key_id} for {name!r} with scopes {' '.join(sorted(set(scopes)))}", file=sys.stderr)
    print("the key is shown once; store it now:", file=sys.stderr)
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
