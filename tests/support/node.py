"""One `node --test` file as one pytest case: the JS SDK's tests and the browser tests both run this way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest


def run_node_test_file(node: str, test_file: Path, *, timeout: float, env: Mapping[str, str] | None = None) -> None:
    """Run the file from its own folder against the `omnicart` next to this Python; fail with node's output.

    The file starts its own servers (OMNICART_BIN). It runs in a session of its own, so a file that hangs is killed
    with its servers and browsers instead of being left behind.
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OMNICART_")}
    environment["OMNICART_BIN"] = str(Path(sys.executable).with_name("omnicart"))
    environment.update(env or {})
    name = test_file.name
    process = subprocess.Popen(
        [node, "--test", "--test-reporter=spec", name],
        cwd=test_file.parent,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"node --test {name} ran over {timeout:.0f}s and was killed\n{output[-20000:]}")
    assert process.returncode == 0, f"node --test {name} exited with {process.returncode}\n{output[-20000:]}"
