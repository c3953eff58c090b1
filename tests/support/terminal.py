"""An example app run as a person would use it: lines typed on its stdin, its screen read line by line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCREEN_TIMEOUT = 20.0
"""Seconds an app gets to print what a command should show (a till coming back online retries with backoff)."""


class Terminal:
    """One example process: `type` a line, `expect` text on the screen; the whole screen goes into failures."""

    def __init__(self, script: str, args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("OMNICART_")}
        environment.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        self._process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            cwd=cwd,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._read_upto = 0
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def screen(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def type(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def expect(self, text: str, timeout: float = SCREEN_TIMEOUT) -> str:
        """The first line not read yet that contains `text` (waiting for it); later `expect`s read on from there."""
        with self._changed:

            def found() -> int | None:
                for index in range(self._read_upto, len(self._lines)):
                    if text in self._lines[index]:
                        return index
                return None

            if not self._changed.wait_for(lambda: found() is not None or self._process.poll() is not None, timeout):
                raise AssertionError(f"{text!r} not shown within {timeout}s; the screen:\n{self.screen}")
            index = found()
            if index is None:
                raise AssertionError(f"the app exited before showing {text!r}; the screen:\n{self.screen}")
            self._read_upto = index + 1
            return self._lines[index]

    def quit(self, timeout: float = SCREEN_TIMEOUT) -> str:
        """Type `quit`, wait for a clean exit, and return the whole screen."""
        self.type("quit")
        code = self._process.wait(timeout)
        self._reader.join(timeout)
        assert code == 0, f"exit code {code}; the screen:\n{self.screen}"
        return self.screen

    def kill(self) -> None:
        """Stop the app if it still runs, and close its pipes."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._reader.join(SCREEN_TIMEOUT)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()
