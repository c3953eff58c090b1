"""The JS SDK follows the protocol: its wire types are generated from omnicart.protocol.

A protocol change that is not carried into sdk_js fails here with what to run; tsc then fails wherever the SDK's
code no longer fits the new types. Needs node: skipped with the reason when missing, failed instead under CI=true.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
SDK_JS = ROOT / "sdk_js"
REGENERATE = "run `npm run gen` in sdk_js and commit schema/protocol.json and src/protocol.ts"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed: the JS SDK checks need Node 20+")
    return node


def _run(command: list[str | Path]) -> None:
    result = subprocess.run(command, cwd=SDK_JS, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}"


def _export_schema(out: Path) -> Path:
    _run([sys.executable, SDK_JS / "scripts" / "export_schema.py", "--out", out])
    return out


def test_schema_matches_the_protocol(tmp_path: Path) -> None:
    """sdk_js/schema/protocol.json is exactly what export_schema.py makes of omnicart.protocol now."""
    fresh = _export_schema(tmp_path / "protocol.json")
    committed = SDK_JS / "schema" / "protocol.json"
    assert fresh.read_text() == committed.read_text(), f"{committed} is stale: {REGENERATE}"


def test_protocol_types_match_the_schema(tmp_path: Path) -> None:
    """sdk_js/src/protocol.ts is exactly what the generator makes of the protocol's schema now."""
    node = _node()
    fresh = tmp_path / "protocol.ts"
    _run([node, SDK_JS / "scripts" / "gen_protocol.mjs", _export_schema(tmp_path / "protocol.json"), fresh])
    committed = SDK_JS / "src" / "protocol.ts"
    assert fresh.read_text() == committed.read_text(), f"{committed} is stale: {REGENERATE}"
