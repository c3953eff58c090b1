"""Omnicart's issue-8 figures in one table, each beside its target and, where one applies, a ceiling or a peer.

The benchmark starts every server itself on free ports of 127.0.0.1 (`omnicart serve --dev` on a fresh SQLite
file, or --db; --redis for the fan-out) and drives it from separate client processes. Rows, by the names --only
takes:

  mutations  Acknowledged durable mutations/s of one server process: POST /v1/cart/ops with an Idempotency-Key
             over --customers customers, closed loop (a connection sends its next write when the last is answered)
             on --load-procs client processes x --connections connections. Only 2xx answers count, in a window of
             --duration seconds after a warm-up; other answers and failures are listed apart.
  latency    Write -> other-device latency p50/p95/p99 with N idle devices connected, for each N of --devices, at
             --rate writes/s open loop: bench_stream's round (its docstring says how each sample is taken).
  rss        Server RSS per idle connection, from the same rounds.
  resume     Time to resume 1,000 missed events (hello since=0 -> the 1,000th event frame), from the same rounds.
  scaling    Mutations/s of 1 and of 2 server processes sharing the database and a Redis (--redis, else a private
             `redis-server` without persistence; skipped without one), with the load split over both; and that a
             listener on process B receives every write made on process A (its latency too).
  ceiling    Requests/s of a plain Litestar hello world (ceiling_app.py) under the same client and requests.
  peer       python-socketio doing the same fan-out (peer_socketio.py) at the smallest device count of --devices,
             same rate and client; through Redis exactly when Omnicart's latency rounds are (--redis).

Every load client is rawhttp.py's bare HTTP/1.1 client (httpx costs ~20x its CPU per request). The client
processes share the machine with the servers, so on a small box they take part of the CPU the server could use;
the header shows the load average at the start and the end, which tells whether other work was running.

    python -m loadtests.bench --quick                          # a smoke test, well under a minute
    python -m loadtests.bench                                  # full size: 1,000 and 10,000 devices, 10 s phases
    python -m loadtests.bench --only mutations,ceiling --markdown bench.md
    python -m loadtests.bench --db postgresql+asyncpg://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/0

The table goes to stdout (and to --markdown FILE), progress to stderr. Exit status 1 when a measurement failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import multiprocessing
import os
import shlex
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from pathlib import Path

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loadtests import rawhttp
from loadtests.bench_stream import (
    SESSION_CONCURRENCY,
    MeasureReport,
    MeasureSettings,
    OmnicartTarget,
    PhaseReport,
    RoundResult,
    Server,
    bounded,
    cart_write_request,
    child_setup,
    error_name,
    errors_text,
    fleet,
    free_port,
    http_client,
    machine,
    machine_cpu_seconds,
    ms,
    open_files_problem,
    open_session,
    percentile,
    run_async,
    run_measurement,
    running,
    running_server,
    shares,
    start_process,
    start_python_app,
    stop_server,
    stream_round,
    wait_command,
)
from loadtests.peer_socketio import SocketIOTarget
from omnicart_server.open_files import raise_open_file_limit

ROWS = ("mutations", "latency", "rss", "resume", "scaling", "ceiling", "peer")
MUTATIONS_TARGET = 5000.0
LATENCY_P99_TARGET = 0.015
LATENCY_TARGET_RATE = 1000.0
"""The latency target holds at this write rate; at a lower --rate the row is not judged."""
RSS_TARGET_KIB = 2**20 / 20_000
"""20,000 idle devices in 1 GiB."""
RESUME_TARGET = 0.100
FANOUT_CUSTOMERS = 10
FANOUT_RATE = 100.0
"""Writes/s of the cross-process check: it checks delivery, the load is the mutations row's business."""
REDIS_TIMEOUT = 10.0


# Options.


@dataclass
class Sizes:
    devices: list[int]
    duration: float
    rate: float
    customers: int
    latency_customers: int
    resume_events: int
    resume_repeats: int
    settle: float
    warmup: float


FULL = Sizes([1000, 10000], 10.0, 1000.0, 1000, 50, 1000, 5, 2.0, 1.0)
QUICK = Sizes([200], 2.0, 200.0, 200, 20, 200, 3, 0.2, 0.3)


@dataclass
class Options:
    sizes: Sizes
    only: list[str]
    db: str | None
    redis: str | None
    load_procs: int
    connections: int
    client_procs: int
    markdown: Path | None
    quick: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and 2-second phases: a smoke test")
    parser.add_argument("--only", help=f"comma-separated rows to measure, of: {','.join(ROWS)}")
    parser.add_argument("--devices", help="comma-separated idle device counts (default 1000,10000; quick 200)")
    parser.add_argument("--duration", type=float, help="seconds of each measured phase (default 10; quick 2)")
    parser.add_argument("--rate", type=float, help="writes/s of the latency rounds (default 1000; quick 200)")
    parser.add_argument("--customers", type=int, help="customers of the mutations load (default 1000; quick 200)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per server)")
    parser.add_argument(
        "--redis", help="Redis URL: the latency rounds and the peer fan out through it; scaling uses it"
    )
    parser.add_argument("--load-procs", type=int, default=2, help="client processes of the mutations load")
    parser.add_argument("--connections", type=int, default=32, help="connections per load process (closed loop)")
    parser.add_argument("--client-procs", type=int, default=4, help="client processes holding the idle devices")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    try:
        devices = [int(n) for n in args.devices.split(",")] if args.devices else preset.devices
    except ValueError:
        parser.error("--devices takes comma-separated whole numbers, e.g. 1000,10000")
    sizes = Sizes(
        devices,
        args.duration or preset.duration,
        args.rate or preset.rate,
        args.customers or preset.customers,
        preset.latency_customers,
        preset.resume_events,
        preset.resume_repeats,
        preset.settle,
        preset.warmup,
    )
    only = [name.strip() for name in args.only.split(",")] if args.only else list(ROWS)
    if unknown := [name for name in only if name not in ROWS]:
        parser.error(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    if min(devices) < 2 or sizes.duration <= 0 or sizes.rate <= 0 or sizes.customers < 1:
        parser.error("--devices must be at least 2, --duration and --rate positive, --customers at least 1")
    if min(args.load_procs, args.connections, args.client_procs) < 1:
        parser.error("--load-procs, --connections and --client-procs must be at least 1")
    rounds = set(only) & {"latency", "rss", "resume", "peer"}
    if rounds and (problem := open_files_problem(devices, sizes.latency_customers)):
        parser.error(problem)
    return Options(
        sizes,
        only,
        args.db,
        args.redis,
        args.load_procs,
        args.connections,
        args.client_procs,
        args.markdown,
        args.quick,
    )


# Closed-loop load: client processes writing as fast as the server answers.


@dataclass(frozen=True)
class LoadSettings:
    base_url: str
    sessions: bool
    """Open real sessions (Omnicart), or send a stand-in token (the ceiling app has no sessions)."""
    customers: int
    connections: int
    warmup: float
    duration: float


@dataclass
class Customer:
    token: str
    writes: int = 0


async def open_customers(settings: LoadSettings) -> tuple[list[Customer], Counter[str]]:
    if not settings.sessions:
        return [Customer("ceiling") for _ in range(settings.customers)], Counter()
    async with http_client(settings.base_url, SESSION_CONCURRENCY) as client:
        jobs = [lambda: open_session(client, "load")] * settings.customers
        sessions, errors = await bounded(jobs, SESSION_CONCURRENCY)
    return [Customer(session["session_token"]) for session in sessions], errors


async def drive(
    settings: LoadSettings, customers: list[Customer], window: tuple[float, float], tally: Counter[str]
) -> None:
    """One connection's closed loop over its customers; outcomes that land inside the window are tallied."""
    start, end = window
    connection: rawhttp.Connection | None = None
    for customer in itertools.cycle(customers):
        if time.perf_counter() >= end:
            break
        try:
            if connection is None or connection.closed:
                connection = await rawhttp.connect(settings.base_url)
            request = cart_write_request(settings.base_url, customer.token, customer.writes)
            response = await connection.request(request)
            outcome = "2xx" if 200 <= response.status < 300 else f"HTTP {response.status}"
        except (OSError, rawhttp.ProtocolError) as exc:
            outcome = error_name(exc)
            if connection is not None:
                connection.close()
                connection = None
            await asyncio.sleep(0.01)  # a refusing server must not turn this loop into a busy one
        if outcome == "2xx":
            customer.writes += 1
        if start <= time.perf_counter() < end:
            tally[outcome] += 1
    if connection is not None:
        connection.close()


async def closed_loop(settings: LoadSettings, control: Connection) -> None:
    """Open the customers, report, and on "go" run the load; report the 2xx answers and the rest."""
    started = time.perf_counter()
    customers, errors = await open_customers(settings)
    control.send(PhaseReport(len(customers), time.perf_counter() - started, errors))
    await wait_command(control, "go")
    start = time.perf_counter() + settings.warmup
    tally: Counter[str] = Counter()
    slices = [customers[i :: settings.connections] for i in range(settings.connections)]
    window = (start, start + settings.duration)
    await asyncio.gather(*(drive(settings, mine, window, tally) for mine in slices if mine))
    control.send(PhaseReport(tally.pop("2xx", 0), settings.duration, tally))


def load_process(settings: LoadSettings, control: Connection) -> None:
    child_setup()
    run_async(closed_loop(settings, control))


@dataclass
class Load:
    per_second: float
    errors: Counter[str]
    """Failed session openings and every non-2xx outcome."""
    customers: int
    connections: int


def run_load(mp: SpawnContext, options: Options, base_urls: Sequence[str], sessions: bool) -> Load:
    """The closed loop from --load-procs processes, spread over the servers of `base_urls` by turns."""
    sizes = options.sizes
    jobs = [
        (load_process, (LoadSettings(url, sessions, share, options.connections, sizes.warmup, sizes.duration),))
        for url, share in zip(itertools.cycle(base_urls), shares(sizes.customers, options.load_procs), strict=False)
    ]
    with fleet(mp, jobs) as clients:
        opened = clients.reports("opening the load's customers")
        clients.command("go")
        done = clients.reports("the load")
    return Load(done.done / sizes.duration, opened.errors + done.errors, opened.done, options.connections * len(jobs))


# Redis for the scaling row.


def wait_redis(url: str) -> str:
    """Wait until Redis answers; its version."""
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + REDIS_TIMEOUT
    while True:
        try:
            version: str = client.info("server")["redis_version"]
            return version
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()


@contextlib.contextmanager
def private_redis(binary: str) -> Iterator[str]:
    """`redis-server` on a free port, no persistence; its URL; stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="omnicart-bench-redis-"))
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = start_process([*command, "--dir", str(workdir)], port, workdir)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


# The measurements.


@dataclass
class Scaling:
    one: Load
    two: Load
    fanout: MeasureReport
    redis: str


@dataclass
class Results:
    mutations: Load | None = None
    ceiling: Load | None = None
    rounds: dict[int, RoundResult] = field(default_factory=dict)
    scaling: Scaling | None = None
    peer: RoundResult | None = None
    failed: dict[str, str] = field(default_factory=dict)
    """Measurement name -> what went wrong; its rows say so."""
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    """Server log lines of WARNING and worse, across every server started."""


Step = Callable[[str], None]


class Bench:
    """The measurements, each on servers of its own, filling Results."""

    def __init__(self, mp: SpawnContext, options: Options, results: Results, step: Step) -> None:
        self.mp = mp
        self.options = options
        self.results = results
        self.step = step

    @contextlib.contextmanager
    def serving(self, server: contextlib.AbstractContextManager[Server]) -> Iterator[Server]:
        """A running server whose log warnings end up in the results (they are read once it has stopped)."""
        started: list[Server] = []
        try:
            with server as running_one:
                started.append(running_one)
                yield running_one
        finally:
            for one in started:
                self.results.warnings.update(one.warnings)

    def mutations(self) -> None:
        with self.serving(running_server(self.options.db, None)) as server:
            self.step("mutations: 1 server process, closed loop")
            self.results.mutations = run_load(self.mp, self.options, [server.base_url], sessions=True)

    def ceiling(self) -> None:
        with self.serving(running(start_python_app("loadtests.ceiling_app"))) as server:
            self.step("ceiling: Litestar hello world, same client")
            self.results.ceiling = run_load(self.mp, self.options, [server.base_url], sessions=False)

    def measure_settings(self, target: OmnicartTarget | SocketIOTarget, resume: bool) -> MeasureSettings:
        sizes = self.options.sizes
        events = sizes.resume_events if resume else 0
        return MeasureSettings(
            target, target, sizes.latency_customers, sizes.rate, sizes.duration, events, sizes.resume_repeats
        )

    def stream(self, devices: int) -> None:
        with self.serving(running_server(self.options.db, self.options.redis)) as server:
            settings = self.measure_settings(OmnicartTarget(server.base_url), resume=True)
            self.results.rounds[devices] = self.round(server, settings, devices)

    def round(self, server: Server, settings: MeasureSettings, devices: int) -> RoundResult:
        options = self.options
        return stream_round(self.mp, server, settings, devices, options.client_procs, options.sizes.settle, self.step)

    def peer(self) -> None:
        args = ("--redis", self.options.redis) if self.options.redis else ()
        with self.serving(running(start_python_app("loadtests.peer_socketio", *args))) as server:
            settings = self.measure_settings(SocketIOTarget(server.base_url), resume=False)
            self.results.peer = self.round(server, settings, min(self.options.sizes.devices))

    def scaling(self) -> None:
        if self.options.redis:
            self.scale(self.options.redis, "--redis")
            return
        binary = shutil.which("redis-server")
        if binary is None:
            self.results.skipped["scaling"] = "skipped: no --redis given and redis-server is not installed"
            return
        with private_redis(binary) as url:
            self.scale(url, "private redis-server")

    def scale(self, redis_url: str, which: str) -> None:
        version = wait_redis(redis_url)
        with tempfile.TemporaryDirectory(prefix="omnicart-bench-") as workdir:
            one_db = self.options.db or f"sqlite+aiosqlite:///{Path(workdir) / 'one.db'}"
            two_db = self.options.db or f"sqlite+aiosqlite:///{Path(workdir) / 'two.db'}"
            with self.serving(running_server(one_db, redis_url)) as server:
                self.step("scaling: 1 process through Redis, closed loop")
                one = run_load(self.mp, self.options, [server.base_url], sessions=True)
            # One after the other: the second process finds the schema the first one migrated.
            with (
                self.serving(running_server(two_db, redis_url)) as a,
                self.serving(running_server(two_db, redis_url)) as b,
            ):
                self.step("scaling: 2 processes, writes on A heard on B")
                sizes = self.options.sizes
                check = MeasureSettings(
                    OmnicartTarget(a.base_url),
                    OmnicartTarget(b.base_url),
                    FANOUT_CUSTOMERS,
                    FANOUT_RATE,
                    sizes.duration,
                    0,
                    0,
                )
                fanout = run_measurement(self.mp, check)
                self.step("scaling: 2 processes through Redis, closed loop")
                two = run_load(self.mp, self.options, [a.base_url, b.base_url], sessions=True)
        self.results.scaling = Scaling(one, two, fanout, f"Redis {version} ({which})")

    def jobs(self) -> list[tuple[str, Callable[[], None]]]:
        """The measurements the selected rows need, in the order they run."""
        only = set(self.options.only)
        jobs: list[tuple[str, Callable[[], None]]] = []
        if "mutations" in only:
            jobs.append(("mutations", self.mutations))
        if "ceiling" in only:
            jobs.append(("ceiling", self.ceiling))
        if only & {"latency", "rss", "resume"}:
            jobs += [(f"stream-{n}", functools.partial(self.stream, n)) for n in self.options.sizes.devices]
        if "scaling" in only:
            jobs.append(("scaling", self.scaling))
        if "peer" in only:
            jobs.append(("peer", self.peer))
        return jobs


# The table.


@dataclass
class Row:
    name: str
    measure: str
    figure: str = ""
    target: str = ""
    met: str = ""
    ratio: str = ""
    notes: str = ""


COLUMNS = ("row", "measure", "figure", "target", "met", "ratio", "notes")


def cells(row: Row) -> list[str]:
    return [row.name, row.measure, row.figure, row.target, row.met, row.ratio, row.notes]


def yes_no(met: bool) -> str:
    return "yes" if met else "no"


def not_measured(results: Results, job: str) -> str:
    return results.failed.get(job) or results.skipped.get(job) or "failed: no result"


def database(options: Options) -> str:
    return "PostgreSQL" if options.db and not options.db.startswith("sqlite") else "SQLite"


def load_notes(load: Load) -> str:
    return f"{load.customers:,} customers, {load.connections} connections; not 2xx: {errors_text(load.errors)}"


def latency_figure(m: MeasureReport) -> str:
    lat = m.latencies
    if not lat:
        return f"failed: none of {m.writes} writes reached the other device"
    return f"p50 {ms(percentile(lat, 50))} / p95 {ms(percentile(lat, 95))} / p99 {ms(percentile(lat, 99))} ms"


def latency_notes(found: RoundResult, rate: float) -> str:
    m = found.measured
    lag = ms(percentile(m.send_lags, 99)) if m.send_lags else "-"
    collector = f"; {m.collector.text()}" if m.collector else ""
    window = f"; {m.window.text()}" if m.window else ""
    answered = f"; HTTP answer p99 {ms(percentile(m.answers, 99))} ms" if m.answers else ""
    slowest = f"; the slowest 1 % sent in {m.slowest_slots} of {m.slots} tenths of a second" if m.slowest_slots else ""
    return (
        f"{rate:,.0f} writes/s open loop; {len(m.latencies):,}/{m.writes:,} events received; "
        f"errors: {errors_text(m.errors)}; client send lag p99 {lag} ms{answered}{slowest}{collector}{window}"
    )


def p99(m: MeasureReport) -> float | None:
    return percentile(m.latencies, 99) if m.latencies else None


def mutations_rows(options: Options, results: Results) -> list[Row]:
    """The target is SQLite's (issue 8): on PostgreSQL the figure is shown, not judged."""
    on_sqlite = database(options) == "SQLite"
    row = Row("mutations", f"acknowledged durable mutations/s ({database(options)}, 1 process)")
    row.target = f">= {MUTATIONS_TARGET:,.0f}/s" if on_sqlite else f"(>= {MUTATIONS_TARGET:,.0f}/s on SQLite)"
    load = results.mutations
    if load is None:
        row.figure = not_measured(results, "mutations")
        return [row]
    row.figure = f"{load.per_second:,.0f}/s"
    if on_sqlite:
        row.met = yes_no(load.per_second >= MUTATIONS_TARGET)
    if results.ceiling and results.ceiling.per_second:
        row.ratio = f"{load.per_second / results.ceiling.per_second:.3f} of the ceiling"
    row.notes = load_notes(load)
    return [row]


def per_round(
    options: Options, results: Results, row_for: Callable[[int], Row], fill: Callable[[Row, RoundResult], None]
) -> list[Row]:
    """A row per device count: labelled by `row_for`, filled from its round, or saying why there is none."""
    rows = []
    for devices in options.sizes.devices:
        row = row_for(devices)
        found = results.rounds.get(devices)
        if found is None:
            row.figure = not_measured(results, f"stream-{devices}")
        else:
            fill(row, found)
        rows.append(row)
    return rows


def latency_rows(options: Options, results: Results) -> list[Row]:
    fan_out = "Redis" if options.redis else "in-process"

    def row_for(devices: int) -> Row:
        measure = f"write -> other device, {devices:,} devices connected (fan-out {fan_out})"
        target = f"p99 <= {ms(LATENCY_P99_TARGET)} ms at {LATENCY_TARGET_RATE:,.0f}/s, 10,000 devices"
        return Row("latency", measure, target=target)

    def fill(row: Row, found: RoundResult) -> None:
        row.figure = latency_figure(found.measured)
        worst = p99(found.measured)
        if options.sizes.rate < LATENCY_TARGET_RATE:
            row.met = f"n/a: below {LATENCY_TARGET_RATE:,.0f}/s"
        else:
            row.met = yes_no(worst is not None and worst <= LATENCY_P99_TARGET)
        row.notes = latency_notes(found, options.sizes.rate)

    return per_round(options, results, row_for, fill)


def rss_rows(options: Options, results: Results) -> list[Row]:
    def row_for(devices: int) -> Row:
        target = f"<= {RSS_TARGET_KIB:.0f} KiB (20,000 idle in 1 GiB)"
        return Row("rss", f"server RSS per idle connection, {devices:,} devices", target=target)

    def fill(row: Row, found: RoundResult) -> None:
        per_connection = (found.rss_after_kib - found.rss_before_kib) / max(found.connect.done, 1)
        row.figure = f"{per_connection:.1f} KiB"
        row.met = yes_no(per_connection <= RSS_TARGET_KIB)
        row.notes = (
            f"server {found.rss_before_kib / 1024:.0f} -> {found.rss_after_kib / 1024:.0f} MiB with "
            f"{found.connect.done:,} connected; connect errors: {errors_text(found.connect.errors)}; "
            f"dropped while idle: {errors_text(found.dropped.errors)}"
        )

    return per_round(options, results, row_for, fill)


def resume_rows(options: Options, results: Results) -> list[Row]:
    sizes = options.sizes

    def row_for(devices: int) -> Row:
        measure = f"resume {sizes.resume_events:,} missed events, {devices:,} devices connected"
        return Row("resume", measure, target=f"< {ms(RESUME_TARGET)} ms")

    def fill(row: Row, found: RoundResult) -> None:
        times = found.measured.resume_seconds
        median = statistics.median(times)
        row.figure = f"{ms(median)} ms"
        row.met = yes_no(median < RESUME_TARGET)
        row.notes = (
            f"hello(since=0) -> last event frame; median of {len(times)}, min {ms(min(times))} / max {ms(max(times))}"
        )

    return per_round(options, results, row_for, fill)


def scaling_rows(options: Options, results: Results) -> list[Row]:
    row = Row("scaling", f"mutations/s, 1 -> 2 processes through Redis ({database(options)})")
    found = results.scaling
    if found is None:
        row.figure = not_measured(results, "scaling")
        return [row]
    one, two, fanout = found.one.per_second, found.two.per_second, found.fanout
    row.figure = (
        f"{one:,.0f} -> {two:,.0f}/s; B received {len(fanout.latencies):,}/{fanout.writes:,} of the writes on A"
    )
    row.ratio = f"x {two / one:.2f}" if one else ""
    worst = p99(fanout)
    row.notes = (
        f"{found.redis}; A -> B p99 {ms(worst) if worst is not None else '-'} ms at {FANOUT_RATE:g} writes/s; "
        f"not 2xx with 1: {errors_text(found.one.errors)}, with 2: {errors_text(found.two.errors)}; "
        f"A -> B errors: {errors_text(fanout.errors)}"
    )
    return [row]


def ceiling_rows(options: Options, results: Results) -> list[Row]:
    row = Row("ceiling", "Litestar hello world, same client and requests: requests/s")
    found = results.ceiling
    if found is None:
        row.figure = not_measured(results, "ceiling")
        return [row]
    row.figure = f"{found.per_second:,.0f}/s"
    if results.mutations and found.per_second:
        row.ratio = f"mutations/s = {results.mutations.per_second / found.per_second:.3f} of it"
    row.notes = load_notes(found)
    return [row]


def peer_rows(options: Options, results: Results) -> list[Row]:
    devices = min(options.sizes.devices)
    fan_out = "AsyncRedisManager" if options.redis else "in-process rooms"
    row = Row("peer", f"python-socketio peer: write -> other device, {devices:,} devices ({fan_out})")
    found = results.peer
    if found is None:
        row.figure = not_measured(results, "peer")
        return [row]
    row.figure = latency_figure(found.measured)
    ours = results.rounds.get(devices)
    theirs, mine = p99(found.measured), p99(ours.measured) if ours else None
    if theirs and mine is not None:
        row.ratio = f"Omnicart p99 = {mine / theirs:.2f} x the peer's"
    per_connection = (found.rss_after_kib - found.rss_before_kib) / max(found.connect.done, 1)
    row.notes = f"{latency_notes(found, options.sizes.rate)}; peer RSS per idle connection {per_connection:.1f} KiB"
    return [row]


ROW_BUILDERS: dict[str, Callable[[Options, Results], list[Row]]] = {
    "mutations": mutations_rows,
    "latency": latency_rows,
    "rss": rss_rows,
    "resume": resume_rows,
    "scaling": scaling_rows,
    "ceiling": ceiling_rows,
    "peer": peer_rows,
}


def table_rows(options: Options, results: Results) -> list[Row]:
    return [row for name in ROWS if name in options.only for row in ROW_BUILDERS[name](options, results)]


def text_table(rows: Sequence[Row]) -> str:
    lines = [list(COLUMNS), *(cells(row) for row in rows)]
    widths = [max(len(line[c]) for line in lines) for c in range(len(COLUMNS))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join([text[0], "-" * max(len(t) for t in text), *text[1:]])


def markdown_table(rows: Sequence[Row]) -> str:
    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in values) + " |"

    return "\n".join([line(COLUMNS), line(["---"] * len(COLUMNS)), *(line(cells(row)) for row in rows)])


# The machine and what else ran on it.


def own_cpu_seconds() -> float:
    """CPU time of this process and of every child it has reaped (servers, client processes, Redis)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Usage:
    """How busy the machine was with other work than this benchmark while it ran."""

    wall: float
    busy: float
    stolen: float
    own: float
    load_average: float

    @classmethod
    def now(cls) -> Usage:
        busy, stolen = machine_cpu_seconds()
        return cls(time.monotonic(), busy, stolen, own_cpu_seconds(), os.getloadavg()[0])

    def other_work(self, end: Usage) -> str:
        cores = os.cpu_count() or 1
        other = max(0.0, (end.busy - self.busy) - (end.own - self.own))
        capacity = cores * (end.wall - self.wall)
        stolen = end.stolen - self.stolen
        return (
            f"other processes used {other:.0f} CPU-s ({other / capacity:.0%} of {cores} cores) during the run; "
            f"the hypervisor took {stolen:.1f} CPU-s ({stolen / capacity:.0%}, steal); "
            f"load average {self.load_average:.2f} at the start"
        )


def header(options: Options, start: Usage, end: Usage) -> list[str]:
    fan_out = f"Redis ({options.redis})" if options.redis else "in-process"
    return [
        "Omnicart benchmark (issue 8)" + (" -- quick sizes, a smoke test, not figures" if options.quick else ""),
        f"machine:  {machine()}, SQLite {sqlite3.sqlite_version}",
        f"others:   {start.other_work(end)}",
        f"command:  {shlex.join(sys.orig_argv)}",
        f"date:     {time.strftime('%Y-%m-%d')}",
        f"servers:  omnicart serve --dev, one process, {database(options)} (a fresh file per server unless --db), "
        f"fan-out {fan_out}",
        f"clients:  mutations/ceiling {options.load_procs} processes x {options.connections} connections, closed loop, "
        f"{options.sizes.duration:g} s after {options.sizes.warmup:g} s warm-up; idle devices on "
        f"{options.client_procs} processes; latency {options.sizes.latency_customers} writer/listener customers",
    ]


def footer(results: Results) -> list[str]:
    lines = [f"server log warnings/errors: {results.warnings.total()}"]
    lines += [f"  {count:>5} x {line[:200]}" for line, count in results.warnings.most_common(10)]
    return lines


# Command line.


class Bar:
    """The progress bar on stderr: a tick per measurement, the current step as its text and as a log line above."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("starting")

    def step(self, message: str) -> None:
        self.progress.update(self.task, description=message)
        self.progress.console.log(message)


def failure(exc: Exception) -> str:
    """A failed measurement, as its rows show it."""
    detail = str(exc).splitlines()[0][:150] if str(exc) else ""
    return f"failed: {error_name(exc)}: {detail}"


def run(options: Options, results: Results) -> None:
    """Every measurement the rows need; a failing one is recorded for its rows and the next one runs."""
    console = Console(stderr=True, log_path=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = Bar(progress)
        jobs = Bench(multiprocessing.get_context("spawn"), options, results, bar.step).jobs()
        progress.update(bar.task, total=len(jobs))
        for name, job in jobs:
            bar.step(f"{name}: starting")
            try:
                job()
            except Exception as exc:
                console.print(traceback.format_exc(), markup=False, highlight=False)
                results.failed[name] = failure(exc)
            progress.advance(bar.task)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill too
    raise_open_file_limit()
    results = Results()
    start = Usage.now()
    try:
        run(options, results)
    except KeyboardInterrupt:
        print("interrupted; the server and client processes are stopped", file=sys.stderr)
        return 130
    head, rows, tail = header(options, start, Usage.now()), table_rows(options, results), footer(results)
    print("\n".join([*head, "", text_table(rows), "", *tail]))
    if options.markdown:
        text = "\n".join([*(f"{line}  " for line in head), "", markdown_table(rows), "", *tail])
        options.markdown.write_text(text + "\n")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
