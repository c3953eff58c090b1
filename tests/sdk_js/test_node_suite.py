"""The JS SDK against real servers: each sdk_js/test/*.test.mjs runs as one case under `node --test`.

Each file starts its own `omnicart serve --dev` (the `omnicart` script next to this Python) on a free port with a
SQLite file of its own. Needs node and `npm ci && npm run build` in sdk_js (scripts/test.sh does both); skipped
with the reason when missing, failed instead under CI=true.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.support.node import run_node_test_file

SDK_JS = Path(__file__).resolve().parents[2] / "sdk_js"
SUITES = sorted((SDK_JS / "test").glob("*.test.mjs"))
FILE_TIMEOUT = 120.0
"""Seconds one file may take (each takes a few); a hung file fails its case instead of the whole run."""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed: the JS SDK tests run under `node --test` (Node 20+)")
    if not (SDK_JS / "node_modules").is_dir():
        unavailable("sdk_js/node_modules is missing: run `(cd sdk_js && npm ci && npm run build)`")
    if not (SDK_JS / "dist" / "index.js").is_file():
        unavailable("sdk_js/dist is missing: run `(cd sdk_js && npm run build)`")
    return node


@pytest.mark.parametrize("suite", SUITES, ids=[path.name.removesuffix(".test.mjs") for path in SUITES])
def test_node_suite(suite: Path) -> None:
    """Every test of the file passes against its own real server."""
    node = _node()
    run_node_test_file(node, suite, timeout=FILE_TIMEOUT)
