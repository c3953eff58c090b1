"""A private, throwaway `redis-server` on a free port: tests may kill and restart it without touching anyone else's."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.server import HOST, free_port

STARTUP_TIMEOUT = 10.0


def redis_server_binary() -> str | None:
    """The `redis-server` executable on PATH, or None."""
    return shutil.which("redis-server")


def ping(port: int, timeout: float = 1.0) -> bool:
    """True when a Redis on this port answers PING."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """`redis-server --port <free> --save '' --appendonly no`: no persistence, so a restart starts empty."""

    def __init__(self, binary: str, log_path: Path) -> None:
        self.binary = binary
        self.log_path = log_path
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> PrivateRedis:
        """Start on the same port as before and wait until it answers PING."""
        if self.alive():
            raise RuntimeError("redis already running")
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.log_path.parent),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not ping(self.port):
            if not self.alive() or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"private redis-server did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.02)
        return self

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the fan-out sees its connections drop, as when Redis crashes."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
