"""A real `omnicart serve` process on a free local port: start, wait on /health, stop, kill -9, restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import httpx
import pytest

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
"""Seconds a server gets to answer /health (imports, migrations on SQLite, schema check on PostgreSQL)."""
STOP_TIMEOUT = 15.0
"""Seconds a graceful stop may take before the process group is killed."""


class ServerStartError(RuntimeError):
    """The server exited or did not answer /health in time; the message holds its log tail."""


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def omnicart_command() -> list[str]:
    """The installed `omnicart` script next to this Python, or the module when the script is not installed yet."""
    script = Path(sys.executable).with_name("omnicart")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "omnicart_server.cli"]


def server_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OMNICART_* setting, plus `extra`: a server sees only what a test sets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMNICART_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_omnicart(args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60.0) -> str:
    """Run an `omnicart` subcommand to completion (e.g. `migrate`) and return its output; fail loudly on error."""
    result = subprocess.run(
        [*omnicart_command(), *args],
        env=server_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"omnicart {' '.join(args)} exited with {result.returncode}:\n{output[-4000:]}")
    return output


class ServerProcess:
    """One `omnicart serve` process; `restart()` and `kill9()` keep its database, port and log file."""

    def __init__(
        self,
        db_url: str,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        dev: bool = True,
        catalog: Path | None = None,
        port: int | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.db_url = db_url
        """The database the server uses; kept across restarts."""
        self.log_path = log_path
        """stdout and stderr of every run, appended."""
        self.env: dict[str, str] = dict(env or {})
        """OMNICART_* settings for the next start; change it between `stop()` and `start()` to reconfigure."""
        self.args = list(args)
        """Extra `serve` flags, e.g. ["--workers", "2"]."""
        self.dev = dev
        """Pass --dev (the well-known signing key unless OMNICART_SECRET_KEYS is set)."""
        self.catalog = catalog
        self.port = port or free_port()
        self.preexec = preexec
        """Run in the child before `omnicart` starts, e.g. to lower a resource limit."""
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The command line of the next start."""
        cmd = [*omnicart_command(), "serve", "--host", HOST, "--port", str(self.port), "--db", self.db_url]
        if self.catalog is not None:
            cmd += ["--catalog", str(self.catalog)]
        if self.dev:
            cmd.append("--dev")
        return cmd + self.args

    def start(self, *, wait: bool = True) -> ServerProcess:
        """Start the process; with `wait`, return once /health answers 200."""
        if self.alive():
            raise RuntimeError("server already running")
        self._starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self._starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            # A new session makes the server the leader of its own process group, so kill9() reaches its workers too.
            self._process = subprocess.Popen(
                self.command(),
                env=server_environment(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self.preexec,
            )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll /health until it answers 200; fail with the log tail if the process exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if not self.alive():
                code = self._process.returncode if self._process else None
                raise ServerStartError(f"server exited with {code} during start-up\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/health", timeout=1.0)
                if response.status_code == 200:
                    return
                last_error = f"/health answered {response.status_code}"
            except httpx.TransportError as exc:
                last_error = repr(exc)
            time.sleep(0.05)
        self.kill9()
        raise ServerStartError(f"server did not answer /health within {timeout}s ({last_error})\n{self.log_tail()}")

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to exit by itself and return its exit code; kill it and fail after `timeout`."""
        assert self._process is not None, "server was never started"
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"server still running after {timeout}s\n{self.log_tail()}") from None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL to the whole group if it lingers."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
        self._kill_group()

    def kill9(self) -> None:
        """SIGKILL the server and its workers at once: no shutdown code runs, as on a crash or power cut."""
        if self._process is None:
            return
        self._kill_group()

    def restart(self, env: Mapping[str, str] | None = None, *, kill: bool = False) -> ServerProcess:
        """Stop (or kill -9) and start again on the same database and port; `env` replaces the settings if given."""
        if kill:
            self.kill9()
        else:
            self.stop()
        if env is not None:
            self.env = dict(env)
        return self.start()

    def live_connections(self) -> int:
        """The server's own count of live WebSocket connections (`omnicart_stream_connections` on /metrics)."""
        text = httpx.get(f"{self.url}/metrics").text
        line = next(line for line in text.splitlines() if line.startswith("omnicart_stream_connections "))
        return int(float(line.split()[1]))

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's output, to put in failure messages."""
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- {self.log_path} (last {lines} lines) ---\n{tail}"

    def _kill_group(self) -> None:
        process = self._process
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def __repr__(self) -> str:
        return f"ServerProcess({self.url}, db={self.db_url!r}, pid={self.pid})"


class StartServer(Protocol):
    """The `start_server` fixture: a server of the test's own, stopped after the test."""

    def __call__(
        self,
        *,
        db_url: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        dev: bool = True,
        wait: bool = True,
        catalog: bool = True,
        preexec: Callable[[], None] | None = None,
    ) -> ServerProcess: ...


SERVERS_USED = pytest.StashKey[list[ServerProcess]]()
"""Servers a test used, so a failure report carries their log tails (the hook is in tests/conftest.py)."""


def track_server(request: pytest.FixtureRequest, server: ServerProcess) -> ServerProcess:
    """Attach the server's log tail to the test's report if it fails."""
    request.node.stash.setdefault(SERVERS_USED, []).append(server)
    return server
