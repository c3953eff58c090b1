"""Running a load tool the way a developer does: from the repository root, as a bounded subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def run_tool(
    command: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run from the repository root without this environment's OMNICART_* settings (`env` adds variables back).

    `preexec` runs in the child before the tool starts (to lower a resource limit, say).
    """
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OMNICART_")}
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec,
    )


def load_tool_module(name: str) -> ModuleType:
    """loadtests/<name>.py, loaded by its path: within the tests, `loadtests` names this test package instead."""
    spec = importlib.util.spec_from_file_location(f"loadtests_{name}", ROOT / "loadtests" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
