"""The cart write path without sockets: CPU and Python calls per write, for judging small changes to it.

The bench's figures move by ±10-20 % from run to run on a shared 2-core box, more than one fewer statement or
processor call can move them. This drives `POST /v1/cart/ops` (with an Idempotency-Key, as the bench does) through
the ASGI app in this process, with no server, client or socket in the way, and prints per write: the main
thread's CPU (the event loop, where Litestar and the SQLite writer run), the whole process's CPU, and with
--profile the Python function calls cProfile counted, which do not drift from run to run.

    python -m loadtests.inprocess                                   # 20,000 writes on a fresh SQLite file
    python -m loadtests.inprocess --writes 5000 --profile calls.prof
    python -m loadtests.inprocess --db postgresql+asyncpg://postgres@127.0.0.1:5432/omnicart_prof
    python -m loadtests.inprocess --redis redis://127.0.0.1:6379/0   # with the doorbell each write rings

A --db other than SQLite must be an empty database: the schema is migrated into it first. Exit status 1 when a
write was not answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar

from loadtests.bench_stream import ADD_ITEM, CART_BODIES
from omnicart_server.app import create_app, tune_collector
from omnicart_server.config import Settings
from omnicart_server.db.migrate import upgrade_to_head


@dataclass(frozen=True)
class Options:
    db_url: str
    redis_url: str | None
    writes: int
    customers: int
    concurrency: int
    profile: Path | None


@dataclass(frozen=True)
class Figures:
    writes: int
    seconds: float
    main_thread_cpu: float
    process_cpu: float
    statuses: Counter[int]
    calls: int | None

    def report(self) -> str:
        per_write = 1e6 / self.writes
        lines = [
            f"writes:       {self.writes:,} in {self.seconds:.2f} s ({self.writes / self.seconds:,.0f}/s)",
            f"main thread:  {self.main_thread_cpu * per_write:.0f} us CPU per write",
            f"process:      {self.process_cpu * per_write:.0f} us CPU per write",
            f"answers:      {', '.join(f'{status}: {count:,}' for status, count in sorted(self.statuses.items()))}",
        ]
        if self.calls is not None:
            lines.append(f"python calls: {self.calls / self.writes:,.1f} per write (cProfile, main thread)")
        return "\n".join(lines)


class InProcessClient:
    """Calls the app as an ASGI server would, one complete request body per call."""

    def __init__(self, app: Litestar) -> None:
        self._app = app

    async def post(self, path: str, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> tuple[int, bytes]:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        request_sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if request_sent:  # the app only asks again to learn of a disconnect, which never comes
                await asyncio.Event().wait()
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)  # type: ignore[arg-type]
        return status, b"".join(chunks)


async def open_sessions(client: InProcessClient, customers: int) -> list[str]:
    """One web session for each of `customers` new customers, each with line L1 in its cart."""
    tokens = []
    for _ in range(customers):
        status, answer = await client.post("/v1/sessions", msgspec.json.encode({"channel": "web", "device": "laptop"}))
        if status != 201:
            raise RuntimeError(f"POST /v1/sessions answered {status}: {answer[:300]!r}")
        tokens.append(msgspec.json.decode(answer)["session_token"])
    statuses = await write_all(client, tokens, range(customers), first=msgspec.json.encode(ADD_ITEM), concurrency=64)
    if set(statuses) != {200}:
        raise RuntimeError(f"the first add_item of each cart was answered {dict(statuses)}")
    return tokens


async def write_all(
    client: InProcessClient, tokens: list[str], writes: range, *, first: bytes | None = None, concurrency: int
) -> Counter[int]:
    """Write number i goes to customer i mod len(tokens), `concurrency` at a time; the answers' statuses."""
    statuses: Counter[int] = Counter()
    numbers: Iterator[int] = iter(writes)

    async def writer() -> None:
        for number in numbers:
            headers = [
                (b"authorization", f"Bearer {tokens[number % len(tokens)]}".encode()),
                (b"idempotency-key", uuid.uuid4().hex.encode()),
            ]
            status, _ = await client.post("/v1/cart/ops", first or CART_BODIES[number % 2], headers)
            statuses[status] += 1

    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return statuses


async def measure(options: Options) -> Figures:
    await asyncio.to_thread(upgrade_to_head, options.db_url)
    app = create_app(Settings(db_url=options.db_url, redis_url=options.redis_url, dev=True))
    async with app.lifespan():
        client = InProcessClient(app)
        tokens = await open_sessions(client, options.customers)
        profiler = cProfile.Profile() if options.profile else None
        profiling: AbstractContextManager[Any] = profiler or nullcontext()
        started, thread_cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        with profiling:
            statuses = await write_all(client, tokens, range(options.writes), concurrency=options.concurrency)
        figures = Figures(
            writes=options.writes,
            seconds=time.perf_counter() - started,
            main_thread_cpu=time.thread_time() - thread_cpu,
            process_cpu=time.process_time() - process_cpu,
            statuses=statuses,
            calls=None,
        )
    if profiler is None or options.profile is None:
        return figures
    profiler.dump_stats(options.profile)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # (callers' counts, calls, ...) by function
    return replace(figures, calls=sum(entry[1] for entry in stats.values()))


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.inprocess",
        description="CPU and Python calls per cart write, through the ASGI app in this process (no sockets).",
    )
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file); an empty database is migrated")
    parser.add_argument("--redis", help="Redis URL: fan out through it, as `omnicart serve --redis` does")
    parser.add_argument("--writes", type=int, default=20_000, help="measured writes (default 20,000)")
    parser.add_argument("--customers", type=int, default=1_000, help="customers the writes go round (default 1,000)")
    parser.add_argument("--concurrency", type=int, default=64, help="writes in flight (default 64, as the bench)")
    parser.add_argument("--profile", type=Path, help="count calls with cProfile and write its stats to this file")
    args = parser.parse_args(argv)
    for name in ("writes", "customers", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    db_url = args.db or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='omnicart-inprocess-')) / 'omnicart.db'}"
    return Options(db_url, args.redis, args.writes, args.customers, args.concurrency, args.profile)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    tune_collector(Settings())  # the collector costs here what it costs in `omnicart serve`
    figures = asyncio.run(measure(options))
    print(figures.report())
    return 0 if set(figures.statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
