"""Benchmark of the live stream (/v1/stream): memory per idle socket, write-to-device latency, resume time.

For each device count N the benchmark starts a fresh server (`omnicart serve --dev` on a free port of 127.0.0.1,
a new SQLite file in a temp dir, or the database of --db) and measures:

1. RSS per idle connection. N/2 customers open 2 device sessions each over HTTP, then the N devices connect to
   /v1/stream and complete hello/welcome, spread over --client-procs processes. The server's VmRSS is read
   before the devices connect and --settle seconds after the last welcome: (after - before) / N.
2. Write -> other-device latency, with the N idle devices still connected. In a separate measuring process,
   --customers customers each have a writer (HTTP) and a listener socket. Writes go out open loop at --rate per
   second in total for --duration seconds (each at its scheduled time, never waiting for earlier answers), on the
   bare HTTP client of rawhttp.py so that the client's own cost stays small. A sample is the time from sending the
   write to the listener receiving the `cart.updated` event of the cart version the write returned (the write's
   answer is the cart, which carries `version`, not a seq; the event carries the same `version` in its data). Both
   times come from time.perf_counter() of one process. "send lag" is how late the client sent writes against the
   schedule: large values mean the client, not the server, was the bottleneck. The measuring process does not
   collect garbage while it times writes (collector_paused). Two figures say where a tail forms: the write's HTTP
   answer p99 (close to the event's: the write path; far below it: fan-out), and in how many tenths of a second
   the slowest 1 % were sent (a few: a stall or a burst; many: slow all along).
3. Resume. One customer's log is filled to exactly --resume-events events (its session.opened, then writes); a
   fresh socket sends hello with since=0, and the time from sending hello to receiving the last of those event
   frames is taken --resume-repeats times (median, min, max), again without the measuring process's collector.

The server is a Target: Omnicart here, or a peer doing the same fan-out (peer_socketio.py), driven by the same
client processes and measurement. `python -m loadtests.bench` runs these rounds among its other figures.

Run it from the repository root, with the virtualenv that has the server installed:

    python -m loadtests.bench_stream --devices 200 --rate 50 --duration 3      # a quick check
    python -m loadtests.bench_stream                                           # full size: 1,000 and 10,000 devices
    python -m loadtests.bench_stream --redis redis://127.0.0.1:6379/0          # fan-out through Redis
    python -m loadtests.bench_stream --db postgresql+asyncpg://user@host/db    # PostgreSQL (migrated first)

OMNICART_* variables of the environment reach the server (e.g. OMNICART_STREAM_QUEUE_SIZE); its log level is
set to warning so access logs do not cost server time. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import math
import multiprocessing
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from loadtests import rawhttp
from omnicart_server.open_files import raise_open_file_limit

T = TypeVar("T")

SKU = "JACKET-RAIN"
ADD_ITEM = {"ops": [{"op": "add_item", "sku": SKU, "qty": 1}]}
SET_QUANTITY = {"ops": [{"op": "set_quantity", "line_id": "L1", "qty": 1}]}
"""Alternating the two keeps every write valid (L1 exists after the first add) and the quantity under its limit."""

HEALTH_TIMEOUT = 60.0
PHASE_TIMEOUT = 900.0
"""Longest wait for one phase of the client processes (opening 10,000 sessions on a busy 2-core box included)."""
EVENT_WAIT = 10.0
"""How long after the last write's answer the listeners may take before an event counts as missing."""
SESSION_CONCURRENCY = 16
"""Session requests in flight per client process."""
CONNECT_CONCURRENCY = 64
"""WebSocket handshakes in flight per client process."""
FILL_CONCURRENCY = 8
"""Writes in flight while filling the resume log."""
WRITE_CONNECTIONS = 512
"""Timed writes in flight at most; past it a write waits for a connection, its wait counted in its latency."""
SERVER_FILES_BESIDE_SOCKETS = 128
"""Open files a server needs besides the idle devices, the latency listeners and the write connections: its own
(~50: database files, listening socket, pools, log) and the measurement's session and resume connections."""
PR_SET_PDEATHSIG = 1
LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?")


# Small helpers.


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_field(path: str, name: str) -> str:
    """The value of the first `name: value` line of a /proc file, or '?'."""
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return "?"


def machine_cpu_seconds() -> tuple[float, float]:
    """CPU time the whole machine has spent busy since boot, and the time the hypervisor took from it (steal).

    From /proc/stat: busy is all but idle, iowait and steal. Steal is time a virtual CPU was ready to run while the
    host ran something else: on a shared box, the part of a slow run that no change of ours could have moved.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


@dataclass(frozen=True)
class ThreadTime:
    """Seconds a thread has run on a core, and has waited in the run queue for one (/proc/.../schedstat).

    Waiting is the time it was ready to run while the other processes held both cores: a latency tail that comes
    with much of it is the box's doing (load clients, Redis and the server share two cores), not the server's.
    """

    ran: float
    waited: float

    @classmethod
    def of(cls, pid: int) -> ThreadTime:
        """The main thread of process `pid`."""
        ran, waited, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        return cls(int(ran) / 1e9, int(waited) / 1e9)

    def __sub__(self, earlier: ThreadTime) -> ThreadTime:
        return ThreadTime(self.ran - earlier.ran, self.waited - earlier.waited)


@dataclass(frozen=True)
class CpuReading:
    """The CPU clocks at one moment: the server's main thread, the measuring process's, the whole box's."""

    at: float
    server: ThreadTime
    measurer: ThreadTime
    box_busy: float

    @classmethod
    def now(cls, server_pid: int) -> CpuReading:
        at, busy = time.perf_counter(), machine_cpu_seconds()[0]
        return cls(at, ThreadTime.of(server_pid), ThreadTime.of(os.getpid()), busy)

    def __sub__(self, earlier: CpuReading) -> CpuWindow:
        return CpuWindow(
            self.at - earlier.at,
            self.server - earlier.server,
            self.measurer - earlier.measurer,
            self.box_busy - earlier.box_busy,
        )


@dataclass(frozen=True)
class CpuWindow:
    """Where the CPU went while the latency writes went out."""

    seconds: float
    server: ThreadTime
    """The server's main thread, where its event loop runs."""
    measurer: ThreadTime
    """The measuring process, which sends the writes and receives their events."""
    box_busy: float
    """CPU-s the whole machine was busy, every process together."""

    def text(self) -> str:
        def share(part: float) -> str:
            return f"{part / self.seconds:.0%}"

        cores = os.cpu_count() or 1
        return (
            f"while writing, the server's main thread ran {share(self.server.ran)} of the time and waited for a core "
            f"{share(self.server.waited)}, the measuring client ran {share(self.measurer.ran)} and waited "
            f"{share(self.measurer.waited)}, the box's {cores} cores were {share(self.box_busy / cores)} busy"
        )


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of values sorted ascending."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def error_name(exc: BaseException) -> str:
    """A short, groupable name for a failure."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidStatus):
        return f"handshake HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        return f"closed {exc.rcvd.code if exc.rcvd else 'abnormally'}"
    return type(exc).__name__


async def bounded(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int) -> tuple[list[T], Counter[str]]:
    """Run the jobs with at most `limit` in flight; the results of those that succeeded, and the failures by name."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    outcomes = await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)
    errors = Counter(error_name(o) for o in outcomes if isinstance(o, BaseException))
    return [o for o in outcomes if not isinstance(o, BaseException)], errors


def run_async(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on uvloop when it is installed (the server's extra installs it), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


# The server process.


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    warnings: list[str] = field(default_factory=list)


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/v1/stream"


def omnicart_command() -> list[str]:
    script = Path(sys.executable).with_name("omnicart")
    return [str(script)] if script.exists() else [sys.executable, "-m", "omnicart_server.cli"]


def _server_preexec() -> None:
    """In the server process before exec: more file descriptors, and die with the benchmark even on kill -9."""
    raise_open_file_limit()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_process(command: Sequence[str], port: int, workdir: Path) -> Server:
    """Start a server process listening on `port`, its output in workdir/server.log."""
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMNICART_LOG_LEVEL": "warning"},
            start_new_session=True,
            preexec_fn=_server_preexec,
        )
    return Server(process, f"http://127.0.0.1:{port}", log_path)


def start_server(db_url: str | None, redis_url: str | None, workdir: Path) -> Server:
    db_url = db_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    if not db_url.startswith("sqlite"):
        subprocess.run([*omnicart_command(), "migrate", "--db", db_url], check=True, capture_output=True)
    port = free_port()
    command = [*omnicart_command(), "serve", "--dev", "--host", "127.0.0.1", "--port", str(port), "--db", db_url]
    if redis_url:
        command += ["--redis", redis_url]
    return start_process(command, port, workdir)


def start_python_app(module: str, *args: str) -> Callable[[Path], Server]:
    """A starter for `python -m <module> --port <free port> <args>` (the ceiling and peer apps)."""

    def start(workdir: Path) -> Server:
        port = free_port()
        return start_process([sys.executable, "-m", module, "--port", str(port), *args], port, workdir)

    return start


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_path.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer /health within {HEALTH_TIMEOUT:.0f} s")


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not gone after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(wait)
            return


def server_log_warnings(log_path: Path) -> list[str]:
    """The WARNING and worse records of the server log without their timestamps (tracebacks stay in the log file).

    The expected warning about the --dev signing key is left out.
    """
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    return [TIMESTAMP.sub("", line).strip() for line in lines if LEVEL.search(line) and "--dev:" not in line]


def rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS), in KiB."""
    return int(proc_field(f"/proc/{pid}/status", "VmRSS").split()[0])


@contextlib.contextmanager
def running(start: Callable[[Path], Server], keep_log: Path | None = None) -> Iterator[Server]:
    """A healthy server started in a fresh work dir; stopped, its warnings collected and its log kept, always."""
    workdir = Path(tempfile.mkdtemp(prefix="omnicart-bench-"))
    try:
        server = start(workdir)
        try:
            wait_healthy(server)
            yield server
        finally:
            stop_server(server)
            server.warnings = server_log_warnings(server.log_path)
            if keep_log is not None:
                keep_log.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(server.log_path, keep_log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def running_server(
    db_url: str | None, redis_url: str | None, keep_log: Path | None = None
) -> contextlib.AbstractContextManager[Server]:
    """`omnicart serve` on the database of `db_url`, or on a fresh SQLite file."""
    return running(lambda workdir: start_server(db_url, redis_url, workdir), keep_log)


# HTTP and WebSocket calls of one device.


class _EventData(msgspec.Struct):
    version: int | None = None


class Frame(msgspec.Struct):
    """The fields of a server frame the benchmark reads; the rest is skipped unparsed."""

    type: str
    seq: int = 0
    kind: str = ""
    data: _EventData | None = None


class Versioned(msgspec.Struct):
    """The one field the benchmark reads from a write's answer: Omnicart's cart, or the peer's echo."""

    version: int


decode_frame = msgspec.json.Decoder(Frame).decode
decode_versioned = msgspec.json.Decoder(Versioned).decode
CART_BODIES = (msgspec.json.encode(ADD_ITEM), msgspec.json.encode(SET_QUANTITY))


def http_client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60)


async def open_session(client: httpx.AsyncClient, device: str, customer_token: str | None = None) -> dict[str, Any]:
    body = {"channel": "web", "device": device, "customer_token": customer_token}
    response = await client.post("/v1/sessions", json=body)
    response.raise_for_status()
    session: dict[str, Any] = response.json()
    return session


async def write_cart(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> int:
    """Apply one batch; the new cart version."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    response = await client.post("/v1/cart/ops", json=body, headers=headers)
    response.raise_for_status()
    return int(response.json()["version"])


def cart_write_request(base_url: str, token: str, writes: int) -> bytes:
    """A writer's next cart write as raw HTTP: add_item first, then set_quantity and add_item by turns."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    return rawhttp.post(base_url, "/v1/cart/ops", CART_BODIES[writes % 2], headers)


async def log_head(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/v1/events?since=0&limit=1", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return int(response.json()["head"])


async def connect_device(url: str, token: str, max_queue: int = 16) -> ClientConnection:
    """A socket that said hello with since=0 and got its welcome."""
    ws = await connect(url, compression=None, max_queue=max_queue, ping_interval=None, open_timeout=60)
    try:
        await ws.send(msgspec.json.encode({"type": "hello", "token": token, "since": 0}).decode())
        first = decode_frame(await asyncio.wait_for(ws.recv(), 60))
        if first.type != "welcome":
            raise RuntimeError(f"expected welcome, got {first.type}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def open_device_sessions(client: httpx.AsyncClient, customers: int) -> tuple[list[str], Counter[str]]:
    """Two device sessions for each of `customers` new customers; their session tokens."""

    async def customer() -> list[str]:
        laptop = await open_session(client, "laptop")
        phone = await open_session(client, "phone", laptop["customer_token"])
        return [laptop["session_token"], phone["session_token"]]

    pairs, errors = await bounded([customer] * customers, SESSION_CONCURRENCY)
    return [token for pair in pairs for token in pair], errors


# Targets: the server side of a round.


class Target(Protocol):
    """A server the rounds drive: Omnicart (below) or the python-socketio peer (peer_socketio.py).

    Instances travel to the client processes, so they are small picklable dataclasses around the server's URL.
    A credential is what a device or writer presents: a session token, or the peer's room name.
    """

    @property
    def base_url(self) -> str: ...

    async def open_devices(self, client: httpx.AsyncClient, customers: int) -> tuple[list[str], Counter[str]]:
        """Credentials of two devices for each of `customers` new customers, and the failures by name."""
        ...

    async def open_pair(self, client: httpx.AsyncClient) -> tuple[str, str, int]:
        """A new customer's writer credential, its listening device's credential, and the writes already made."""
        ...

    async def connect(self, credential: str, max_queue: int) -> ClientConnection:
        """A device's socket, ready to receive its customer's events."""
        ...

    def versions(self, ws: ClientConnection) -> AsyncIterator[int]:
        """The cart version of every cart.updated event the socket receives (answering what needs an answer)."""
        ...

    def write_request(self, credential: str, writes: int) -> bytes:
        """The raw HTTP request of a writer's next write, after `writes` earlier ones."""
        ...


@dataclass(frozen=True)
class OmnicartTarget:
    base_url: str

    async def open_devices(self, client: httpx.AsyncClient, customers: int) -> tuple[list[str], Counter[str]]:
        return await open_device_sessions(client, customers)

    async def open_pair(self, client: httpx.AsyncClient) -> tuple[str, str, int]:
        writer = await open_session(client, "writer")
        listener = await open_session(client, "listener", writer["customer_token"])
        await write_cart(client, writer["session_token"], ADD_ITEM)  # creates line L1 before the timed writes
        return writer["session_token"], listener["session_token"], 1

    async def connect(self, credential: str, max_queue: int) -> ClientConnection:
        return await connect_device(ws_url(self.base_url), credential, max_queue)

    async def versions(self, ws: ClientConnection) -> AsyncIterator[int]:
        async for raw in ws:
            frame = decode_frame(raw)
            if frame.type == "event" and frame.kind == "cart.updated" and frame.data and frame.data.version:
                yield frame.data.version

    def write_request(self, credential: str, writes: int) -> bytes:
        return cart_write_request(self.base_url, credential, writes)


# Client processes.


@dataclass
class PhaseReport:
    """What one client process did in one phase."""

    done: int
    seconds: float
    errors: Counter[str]


def sum_reports(reports: Sequence[PhaseReport]) -> PhaseReport:
    errors: Counter[str] = Counter()
    for report in reports:
        errors.update(report.errors)
    return PhaseReport(sum(r.done for r in reports), max(r.seconds for r in reports), errors)


async def wait_command(control: Connection, expected: str) -> None:
    command = await asyncio.get_running_loop().run_in_executor(None, control.recv)
    if command != expected:
        raise RuntimeError(f"expected command {expected!r}, got {command!r}")


def child_setup() -> None:
    """In a client process: more file descriptors; Ctrl-C is for the main process, which ends its children."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_open_file_limit()


def stop_child(process: SpawnProcess, grace: float) -> None:
    """Wait up to `grace` seconds for the process to end, then kill it."""
    process.join(grace)
    if process.is_alive():
        process.kill()
        process.join(5)


def receive(control: Connection, timeout: float, what: str) -> Any:
    if not control.poll(timeout):
        raise TimeoutError(f"no report of {what} within {timeout:.0f} s")
    try:
        return control.recv()
    except EOFError:
        raise RuntimeError(f"a client process died during {what}; see its traceback above") from None


@dataclass
class Fleet:
    """Client processes, each with its control pipe."""

    processes: list[SpawnProcess]
    controls: list[Connection]

    def command(self, command: str) -> None:
        for control in self.controls:
            try:
                control.send(command)
            except (BrokenPipeError, ConnectionResetError):
                raise RuntimeError(f"a client process died before the command {command!r}") from None

    def reports(self, what: str) -> PhaseReport:
        return sum_reports([receive(control, PHASE_TIMEOUT, what) for control in self.controls])


ClientJob = tuple[Callable[..., None], tuple[Any, ...]]
"""A client process's function and its arguments; its control pipe is passed after them."""


@contextlib.contextmanager
def fleet(mp: SpawnContext, jobs: Sequence[ClientJob], grace: float = 5.0) -> Iterator[Fleet]:
    """One client process per job; given `grace` seconds to exit after a normal end, killed after a failure."""
    started = Fleet([], [])
    try:
        for function, args in jobs:
            ours, theirs = mp.Pipe()
            process = mp.Process(target=function, args=(*args, theirs), daemon=True)
            process.start()
            theirs.close()  # the child has its own copy now; ours, held open, would hide the child's death from poll()
            started.processes.append(process)
            started.controls.append(ours)
        yield started
    except BaseException:
        grace = 0.0
        raise
    finally:
        deadline = time.monotonic() + grace
        for process in started.processes:
            stop_child(process, max(0.0, deadline - time.monotonic()))


def shares(total: int, parts: int) -> list[int]:
    """`total` split into at most `parts` non-zero shares as even as can be."""
    return [s for s in (total // parts + (i < total % parts) for i in range(parts)) if s > 0]


# Client process: idle devices.


async def drain(target: Target, ws: ClientConnection) -> int | None:
    """Read frames until the socket closes; the close code the server sent."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in target.versions(ws):
            pass
    return ws.close_code


async def connect_idle(target: Target, credential: str) -> tuple[ClientConnection, asyncio.Task[int | None]]:
    """A connected device and the task reading its frames from now on (so it answers the server's pings)."""
    ws = await target.connect(credential, max_queue=2)
    return ws, asyncio.create_task(drain(target, ws))


async def idle_devices(target: Target, customers: int, control: Connection) -> None:
    """Open sessions, connect them on command, keep them idle until told to close, report each phase."""
    started = time.perf_counter()
    async with http_client(target.base_url, SESSION_CONCURRENCY) as client:
        credentials, errors = await target.open_devices(client, customers)
    control.send(PhaseReport(len(credentials), time.perf_counter() - started, errors))

    await wait_command(control, "connect")
    started = time.perf_counter()
    jobs = [lambda credential=credential: connect_idle(target, credential) for credential in credentials]
    connected, errors = await bounded(jobs, CONNECT_CONCURRENCY)
    sockets, drains = [ws for ws, _ in connected], [task for _, task in connected]
    control.send(PhaseReport(len(sockets), time.perf_counter() - started, errors))

    await wait_command(control, "close")
    dropped = Counter(f"dropped, close code {task.result()}" for task in drains if task.done())
    if sockets:
        await asyncio.wait([asyncio.create_task(ws.close()) for ws in sockets], timeout=30)
    control.send(PhaseReport(sum(dropped.values()), 0.0, dropped))


def idle_devices_process(target: Target, customers: int, control: Connection) -> None:
    child_setup()
    run_async(idle_devices(target, customers, control))


def idle_fleet(
    mp: SpawnContext, target: Target, customers: int, processes: int
) -> contextlib.AbstractContextManager[Fleet]:
    """Client processes sharing `customers` between them."""
    return fleet(mp, [(idle_devices_process, (target, share)) for share in shares(customers, processes)])


# Measuring process: write -> other-device latency, then resume.


@dataclass
class MeasureSettings:
    target: Target
    """Where the writers open their sessions and write."""
    listen_target: Target
    """Where the listening devices connect: the same server, or another process of it."""
    customers: int
    rate: float
    duration: float
    resume_events: int
    """0 skips the resume measurement (the peer has no log)."""
    resume_repeats: int
    server_pid: int | None = None
    """The server whose main thread the report's CPU window follows (it must run on this machine); None: none."""


@dataclass
class MeasureReport:
    latencies: list[float]
    """Seconds from sending a write to the other device receiving its event, sorted."""
    send_lags: list[float]
    """Seconds each write went out after its scheduled time, sorted."""
    writes: int
    errors: Counter[str]
    resume_seconds: list[float]
    window: CpuWindow | None = None
    collector: CollectorPauses | None = None
    """The server's garbage-collector pauses while the writes went out; None for a server that does not export them."""
    answers: list[float] = field(default_factory=list)
    """Seconds from sending a write to its HTTP answer, sorted: a tail here is the server's write path, not fan-out."""
    slowest_slots: int = 0
    """In how many tenths of a second the slowest 1 % of the writes were sent: a few means the tail is a stall or a
    burst, many means writes were slow all along."""
    slots: int = 0
    """Tenths of a second the writes were sent over."""


@dataclass
class Pair:
    """One customer of the latency test: a writer's credential and the listening device's socket."""

    writer: str
    listener: ClientConnection
    writes: int
    seen: dict[int, float] = field(default_factory=dict)
    """Cart version -> perf_counter() when its event arrived."""


@dataclass
class Write:
    pair: Pair
    due: float
    sent: float = 0.0
    answered: float = 0.0
    version: int | None = None
    error: str | None = None


async def open_pair(client: httpx.AsyncClient, settings: MeasureSettings) -> Pair:
    writer, listener, writes = await settings.target.open_pair(client)
    return Pair(writer, await settings.listen_target.connect(listener, 16), writes)


async def listen(target: Target, pair: Pair) -> None:
    async for version in target.versions(pair.listener):
        pair.seen[version] = time.perf_counter()


async def timed_write(pool: rawhttp.Pool, write: Write, request: bytes) -> None:
    write.sent = time.perf_counter()
    try:
        response = await pool.request(request)
    except Exception as exc:
        write.error = error_name(exc)
        return
    write.answered = time.perf_counter()
    if 200 <= response.status < 300:
        write.version = decode_versioned(response.body).version
    else:
        write.error = f"HTTP {response.status}"


async def write_open_loop(target: Target, pairs: list[Pair], rate: float, duration: float) -> list[Write]:
    """Send writes at their scheduled times, round robin over the customers, without waiting for answers."""
    writes: list[Write] = []
    tasks: list[asyncio.Task[None]] = []
    pool = rawhttp.Pool(target.base_url, WRITE_CONNECTIONS)
    try:
        start = time.perf_counter() + 0.05
        for i in range(round(rate * duration)):
            write = Write(pairs[i % len(pairs)], due=start + i / rate)
            delay = write.due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            request = target.write_request(write.pair.writer, write.pair.writes)
            write.pair.writes += 1
            writes.append(write)
            tasks.append(asyncio.create_task(timed_write(pool, write, request)))
        await asyncio.gather(*tasks)
    finally:
        pool.close()
    return writes


async def wait_for_events(writes: list[Write], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    pending = [w for w in writes if w.version is not None]
    while time.perf_counter() < deadline:
        pending = [w for w in pending if w.version not in w.pair.seen]
        if not pending:
            return
        await asyncio.sleep(0.05)


def latency_report(writes: list[Write], setup_errors: Counter[str]) -> MeasureReport:
    errors = Counter(setup_errors)
    errors.update(w.error for w in writes if w.error is not None)
    received_writes: list[tuple[float, Write]] = []
    for write in writes:
        if write.version is None:
            continue
        received = write.pair.seen.get(write.version)
        if received is None:
            errors["event not received"] += 1
        else:
            received_writes.append((received - write.sent, write))
    received_writes.sort(key=lambda latency_and_write: latency_and_write[0])
    slowest = received_writes[len(received_writes) * 99 // 100 :] if len(received_writes) >= 100 else []
    start = writes[0].due if writes else 0.0
    return MeasureReport(
        latencies=[latency for latency, _ in received_writes],
        send_lags=sorted(w.sent - w.due for w in writes),
        writes=len(writes),
        errors=errors,
        resume_seconds=[],
        answers=sorted(w.answered - w.sent for w in writes if w.version is not None),
        slowest_slots=len({int((write.sent - start) * 10) for _, write in slowest}),
        slots=int((writes[-1].due - start) * 10) + 1 if writes else 0,
    )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the measuring process while it times writes or resumes.

    Its heap grows by a few objects a write, and a full collection of it paused the client for 77-89 ms: the writes
    due meanwhile went out late and their answers and events were read late, which showed as the server's p99
    (BENCHMARKS.md, issue 8, twentieth session). The window's garbage, a few MiB, waits for the end of it.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def measure_latency(client: httpx.AsyncClient, settings: MeasureSettings) -> MeasureReport:
    pairs, errors = await bounded([lambda: open_pair(client, settings)] * settings.customers, SESSION_CONCURRENCY)
    if not pairs:
        raise RuntimeError(f"no latency customer could connect: {dict(errors)}")
    listeners = [asyncio.create_task(listen(settings.listen_target, pair)) for pair in pairs]
    try:
        pid = settings.server_pid
        with collector_paused():
            collected_before = await asyncio.to_thread(collector_pauses, settings.target.base_url)
            before = CpuReading.now(pid) if pid else None
            writes = await write_open_loop(settings.target, pairs, settings.rate, settings.duration)
            window = CpuReading.now(pid) - before if pid and before else None
            collected = await asyncio.to_thread(collector_pauses, settings.target.base_url)
            await wait_for_events(writes, EVENT_WAIT)
        for listener in (task for task in listeners if task.done()):
            exc = listener.exception()
            errors[f"listener ended: {error_name(exc) if exc else 'closed normally'}"] += 1
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(pair.listener.close() for pair in pairs), return_exceptions=True)
    report = latency_report(writes, errors)
    report.window = window
    report.collector = collected - collected_before if collected and collected_before else None
    return report


async def fill_log(client: httpx.AsyncClient, token: str, events: int) -> None:
    """Write until the customer's log holds exactly `events` events."""
    missing = events - await log_head(client, token)
    if missing < 1:
        raise RuntimeError(f"the log already holds more than {events} events")
    await write_cart(client, token, ADD_ITEM)
    bodies = [SET_QUANTITY if i % 2 == 0 else ADD_ITEM for i in range(missing - 1)]
    jobs = [lambda body=body: write_cart(client, token, body) for body in bodies]
    _, errors = await bounded(jobs, FILL_CONCURRENCY)
    head = await log_head(client, token)
    if errors or head != events:
        raise RuntimeError(f"filling the resume log: head {head}, errors {dict(errors)}")


async def time_resume(url: str, token: str, events: int) -> float:
    """Seconds from sending hello(since=0) to receiving the `events`-th event frame."""
    async with connect(url, compression=None, ping_interval=None, max_queue=None) as ws, asyncio.timeout(120):
        started = time.perf_counter()
        await ws.send(msgspec.json.encode({"type": "hello", "token": token, "since": 0}).decode())
        received = 0
        async for raw in ws:
            frame = decode_frame(raw)
            if frame.type == "event":
                received += 1
                if received == events:
                    elapsed = time.perf_counter() - started
                    if frame.seq != events:
                        raise RuntimeError(f"event frame {events} has seq {frame.seq}: the log is not 1..{events}")
                    return elapsed
    raise RuntimeError(f"the stream closed after {received} of {events} events")


async def measure_resume(client: httpx.AsyncClient, url: str, settings: MeasureSettings) -> list[float]:
    token = (await open_session(client, "resumer"))["session_token"]
    await fill_log(client, token, settings.resume_events)
    with collector_paused():
        return [await time_resume(url, token, settings.resume_events) for _ in range(settings.resume_repeats)]


async def measure(settings: MeasureSettings, control: Connection) -> None:
    async with http_client(settings.target.base_url, SESSION_CONCURRENCY) as client:
        report = await measure_latency(client, settings)
        if settings.resume_events:
            report.resume_seconds = await measure_resume(client, ws_url(settings.target.base_url), settings)
    control.send(report)


def measure_process(settings: MeasureSettings, control: Connection) -> None:
    child_setup()
    run_async(measure(settings, control))


def run_measurement(mp: SpawnContext, settings: MeasureSettings) -> MeasureReport:
    """The measurement, in a client process of its own."""
    with fleet(mp, [(measure_process, (settings,))], grace=10.0) as measurer:
        report: MeasureReport = receive(measurer.controls[0], settings.duration + PHASE_TIMEOUT, "the measurement")
    return report


# One round: one device count against one fresh server.


@dataclass
class RoundResult:
    devices: int
    sessions: PhaseReport
    connect: PhaseReport
    rss_before_kib: int
    rss_after_kib: int
    measured: MeasureReport
    dropped: PhaseReport
    server_warnings: list[str] = field(default_factory=list)
    """Filled in once the server has stopped."""


def open_files_problem(devices: Sequence[int], listeners: int) -> str | None:
    """Why rounds of these device counts cannot run here, if they cannot; checked before any server starts.

    Past its open-file limit a server resets each new connection, unlogged, and the round measures that instead. The
    server runs with its soft limit raised to the hard one, which it shares with this process.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    beside = listeners + WRITE_CONNECTIONS + SERVER_FILES_BESIDE_SOCKETS
    if hard == resource.RLIM_INFINITY or max(devices) + beside <= hard:
        return None
    needed = f"{max(devices):,} devices need ~{max(devices) + beside:,} open files in the server"
    if hard - beside < 2:
        return f"{needed}, and this machine allows {hard:,} (ulimit -Hn), too few for any round"
    return f"{needed}, over this machine's limit of {hard:,} (ulimit -Hn): use at most {hard - beside:,}"


def stream_round(
    mp: SpawnContext,
    server: Server,
    settings: MeasureSettings,
    devices: int,
    client_procs: int,
    settle: float,
    step: Callable[[str], None],
) -> RoundResult:
    """`devices` idle devices on a running server, then the measurement beside them."""
    customers = devices // 2
    with idle_fleet(mp, settings.listen_target, customers, client_procs) as idle:
        step(f"{devices} devices: opening {customers} customers x 2 sessions")
        sessions = idle.reports("opening sessions")
        rss_before = rss_kib(server.process.pid)
        step(f"{devices} devices: {sessions.done} sessions in {sessions.seconds:.1f} s; connecting them")
        idle.command("connect")
        connected = idle.reports("connecting")
        time.sleep(settle)
        rss_after = rss_kib(server.process.pid)
        step(f"{devices} devices: {connected.done} connected in {connected.seconds:.1f} s; measuring")
        measured = run_measurement(mp, replace(settings, server_pid=server.process.pid))
        step(f"{devices} devices: closing them")
        idle.command("close")
        dropped = idle.reports("closing")
    return RoundResult(devices, sessions, connected, rss_before, rss_after, measured, dropped)


@dataclass(frozen=True)
class CollectorPauses:
    """A server's garbage-collector pauses (omnicart_gc_pause_seconds): the long ones by generation, all as time."""

    long: dict[str, int]
    """Pauses over LONG_PAUSE (a bucket bound of the histogram), by generation ("0", "1", "2")."""
    seconds: float

    def __sub__(self, earlier: CollectorPauses) -> CollectorPauses:
        long = {gen: count - earlier.long.get(gen, 0) for gen, count in self.long.items()}
        return CollectorPauses(long, self.seconds - earlier.seconds)

    def text(self) -> str:
        by_generation = ", ".join(f"generation {gen}: {count}" for gen, count in sorted(self.long.items()) if count)
        detail = f" ({by_generation})" if by_generation else ""
        count = sum(self.long.values())
        return f"GC pauses over {LONG_PAUSE * 1000:.0f} ms: {count}{detail}, {ms(self.seconds)} ms paused in all"


LONG_PAUSE = 0.01


def collector_pauses(base_url: str) -> CollectorPauses | None:
    """The pauses so far, from the server's /metrics; None if it has no such metric (the peer)."""
    try:
        response = httpx.get(f"{base_url}/metrics", timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    total: Counter[str] = Counter()
    short: Counter[str] = Counter()
    seconds = 0.0
    found = False
    for family in text_string_to_metric_families(response.text):
        if family.name != "omnicart_gc_pause_seconds":
            continue
        found = True
        for sample in family.samples:
            generation = sample.labels.get("generation", "?")
            if sample.name.endswith("_count"):
                total[generation] += round(sample.value)
            elif sample.name.endswith("_sum"):
                seconds += sample.value
            elif sample.name.endswith("_bucket") and float(sample.labels["le"]) == LONG_PAUSE:
                short[generation] += round(sample.value)
    if not found:
        return None
    return CollectorPauses({gen: total[gen] - short[gen] for gen in total}, seconds)


@dataclass
class Options:
    devices: list[int]
    rate: float
    duration: float
    customers: int
    client_procs: int
    settle: float
    db: str | None
    redis: str | None
    resume_events: int
    resume_repeats: int
    log_dir: Path | None

    def server_log(self, devices: int) -> Path | None:
        return self.log_dir / f"server-{devices}.log" if self.log_dir else None

    def measure_settings(self, target: Target) -> MeasureSettings:
        return MeasureSettings(
            target, target, self.customers, self.rate, self.duration, self.resume_events, self.resume_repeats
        )


def run_round(mp: SpawnContext, options: Options, devices: int) -> RoundResult:
    with running_server(options.db, options.redis, options.server_log(devices)) as server:
        settings = options.measure_settings(OmnicartTarget(server.base_url))
        result = stream_round(mp, server, settings, devices, options.client_procs, options.settle, progress)
    result.server_warnings = server.warnings
    return result


# The report.


def machine() -> str:
    """The hardware and, since its build moves the figures by 10-20 % (BENCHMARKS.md), which interpreter ran."""
    model = proc_field("/proc/cpuinfo", "model name")
    mem_kib = int(proc_field("/proc/meminfo", "MemTotal").split()[0])
    return (
        f"{model}, {os.cpu_count()} cores, {mem_kib / 2**20:.1f} GiB RAM, "
        f"Python {platform.python_version()} ({os.path.realpath(sys.executable)}, built {platform.python_build()[1]}), "
        f"{platform.system()} {platform.release()}"
    )


def errors_text(errors: Counter[str]) -> str:
    return ", ".join(f"{name}: {count}" for name, count in errors.most_common()) or "none"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def latency_rows(m: MeasureReport) -> list[tuple[str, str]]:
    lat, lags = m.latencies, m.send_lags
    if not lat:
        return [("write->device samples / writes", f"0 / {m.writes}")]
    return [
        ("write->device samples / writes", f"{len(lat)} / {m.writes}"),
        ("write->device p50 (ms)", ms(percentile(lat, 50))),
        ("write->device p95 (ms)", ms(percentile(lat, 95))),
        ("write->device p99 (ms)", ms(percentile(lat, 99))),
        ("write->device max (ms)", ms(lat[-1])),
        ("client send lag p99 / max (ms)", f"{ms(percentile(lags, 99))} / {ms(lags[-1])}"),
        ("write -> HTTP answer p50 / p99 (ms)", f"{ms(percentile(m.answers, 50))} / {ms(percentile(m.answers, 99))}"),
        ("tenths of a second holding the slowest 1 %", f"{m.slowest_slots} of {m.slots}"),
        ("CPU while writing", m.window.text() if m.window else "-"),
    ]


def round_rows(r: RoundResult) -> list[tuple[str, str]]:
    resume = r.measured.resume_seconds
    return [
        ("idle devices connected / asked", f"{r.connect.done} / {r.devices // 2 * 2}"),
        ("sessions opened per s", f"{r.sessions.done / r.sessions.seconds:.0f}" if r.sessions.seconds else "-"),
        ("connect + hello/welcome, all (s)", f"{r.connect.seconds:.1f}"),
        ("server RSS before / after (MiB)", f"{r.rss_before_kib / 1024:.1f} / {r.rss_after_kib / 1024:.1f}"),
        ("RSS per idle connection (KiB)", f"{(r.rss_after_kib - r.rss_before_kib) / max(r.connect.done, 1):.1f}"),
        *latency_rows(r.measured),
        ("write->device errors", errors_text(r.measured.errors)),
        ("server GC while writing", r.measured.collector.text() if r.measured.collector else "-"),
        ("resume events median (ms)", ms(statistics.median(resume)) if resume else "-"),
        ("resume min / max (ms)", f"{ms(min(resume))} / {ms(max(resume))}" if resume else "-"),
        ("session / connect errors", f"{errors_text(r.sessions.errors)} / {errors_text(r.connect.errors)}"),
        ("idle sockets dropped by server", errors_text(r.dropped.errors)),
    ]


def align(cell: str, width: int, left: bool) -> str:
    return cell.ljust(width) if left else cell.rjust(width)


def table(results: list[RoundResult]) -> str:
    columns = [round_rows(r) for r in results]
    labels = [label for label, _ in columns[0]]
    header = ["devices", *(str(r.devices) for r in results)]
    rows = [header, *([label, *(col[i][1] for col in columns)] for i, label in enumerate(labels))]
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines = ["  ".join(align(cell, widths[c], c == 0) for c, cell in enumerate(row)) for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def report(options: Options, results: list[RoundResult]) -> str:
    database = "PostgreSQL (--db)" if options.db and not options.db.startswith("sqlite") else "SQLite, fresh file"
    warnings = Counter(w for r in results for w in r.server_warnings)
    where = f" (logs in {options.log_dir})" if options.log_dir else " (keep the logs with --log-dir)"
    lines = [
        "Omnicart live stream benchmark",
        f"machine:  {machine()}",
        f"command:  {shlex.join(sys.orig_argv)}",
        f"server:   omnicart serve --dev, 1 process, {database}, fan-out {'Redis' if options.redis else 'in-process'};"
        " a fresh server per device count",
        f"clients:  {options.client_procs} processes of idle devices (N/2 customers x 2 devices, idle, since=0)",
        f"latency:  {options.customers} customers (writer over HTTP + listener socket), "
        f"{options.rate:g} writes/s for {options.duration:g} s, open loop",
        f"resume:   hello(since=0) -> {options.resume_events}th event frame, {options.resume_repeats} repeats",
        "",
        table(results),
        "",
        f"server log warnings/errors: {warnings.total()}{where if warnings else ''}",
        *(f"  {count:>5} x {line[:200]}" for line, count in warnings.most_common(10)),
    ]
    return "\n".join(lines)


# Command line.


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_stream", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1000, 10000], help="idle device counts to run")
    parser.add_argument("--rate", type=float, default=200, help="writes per second in total, open loop")
    parser.add_argument("--duration", type=float, default=10, help="seconds of writes per device count")
    parser.add_argument("--customers", type=int, default=50, help="writer/listener customers of the latency test")
    parser.add_argument("--client-procs", type=int, default=4, help="processes holding the idle devices")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between last welcome and reading RSS")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per device count)")
    parser.add_argument("--redis", help="Redis URL for the server's fan-out")
    parser.add_argument("--resume-events", type=int, default=1000, help="events a resuming device has missed")
    parser.add_argument("--resume-repeats", type=int, default=5, help="resumes to take the median of")
    parser.add_argument("--log-dir", type=Path, help="keep each server's log here as server-<devices>.log")
    args = parser.parse_args(argv)
    if min(args.devices) < 2 or args.resume_events < 2 or args.rate <= 0 or args.duration <= 0:
        parser.error("--devices and --resume-events must be at least 2, --rate and --duration positive")
    if args.customers < 1 or args.client_procs < 1 or args.resume_repeats < 1:
        parser.error("--customers, --client-procs and --resume-repeats must be at least 1")
    if problem := open_files_problem(args.devices, args.customers):
        parser.error(problem)
    return Options(**vars(args))


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill too
    raise_open_file_limit()
    mp = multiprocessing.get_context("spawn")
    try:
        results = [run_round(mp, options, devices) for devices in options.devices]
    except KeyboardInterrupt:
        progress("interrupted; the server and client processes are stopped")
        return 130
    print(report(options, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
