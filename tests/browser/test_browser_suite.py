"""The /demo pages in real headless Chromium: each tests/browser/*.test.mjs runs as one case under `node --test`.

Each file starts its own `omnicart serve --dev` (the `omnicart` script next to this Python) on a free port with a
SQLite file of its own, and saves screenshots under tests/browser/artifacts/. Needs node, Debian's `chromium`
and `npm ci` in tests/browser (scripts/test.sh does all three); skipped with the reason when one is missing,
failed instead under CI=true.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.support.node import run_node_test_file

HERE = Path(__file__).parent
SCENARIOS = sorted(HERE.glob("*.test.mjs"))
FILE_TIMEOUT = 180.0
"""Seconds one file may take (each takes a few); a hung browser fails the case instead of the whole run."""


def _chromium() -> str:
    """The browser: CHROMIUM if set, else Debian's `chromium` on PATH."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        if not Path(configured).exists():
            unavailable(f"CHROMIUM={configured} does not exist")
        return configured
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("chromium is not installed: `apt-get install chromium` (or set CHROMIUM to its path)")
    return found


def _requirements() -> tuple[str, str]:
    """node and chromium, or skip (fail under CI) saying what to install."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed: the browser tests run under `node --test`")
    chromium = _chromium()
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        unavailable("tests/browser/node_modules is missing: run `(cd tests/browser && npm ci)`")
    return node, chromium


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[path.name.removesuffix(".test.mjs") for path in SCENARIOS])
def test_browser_scenarios(scenario: Path) -> None:
    """Every scenario of the file passes in headless Chromium against its own real server."""
    node, chromium = _requirements()
    run_node_test_file(node, scenario, timeout=FILE_TIMEOUT, env={"CHROMIUM": chromium})
