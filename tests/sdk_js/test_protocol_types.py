"""The JS SDK follows the protocol: its wire types are generated from omnicart.protocol, and the demo serves it built.

A protocol change that is not carried into sdk_js fails here with what to run; tsc then fails wherever the SDK's
code no longer fits the new types. Needs node (and `npm ci` in sdk_js for the build check): skipped with the
reason when missing, failed instead under CI=true.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
SDK_JS = ROOT / "sdk_js"
DEMO_SDK = ROOT / "server" / "omnicart_server" / "demo" / "static" / "sdk"
REGENERATE = "run `npm run gen` in sdk_js and commit schema/protocol.json and src/protocol.ts"
REBUILD = "run `npm run build` in sdk_js and commit server/omnicart_server/demo/static/sdk"


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


def test_demo_serves_a_fresh_build(tmp_path: Path) -> None:
    """The demo's copy of the SDK (demo/static/sdk/*.js) is exactly what a build of sdk_js/src makes now."""
    node = _node()
    tsc = SDK_JS / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.exists():
        unavailable("sdk_js/node_modules is missing: run `(cd sdk_js && npm ci)`")
    _run([node, tsc, "-p", SDK_JS / "tsconfig.json", "--outDir", tmp_path, "--declaration", "false"])
    built = {path.name: path.read_bytes() for path in tmp_path.glob("*.js")}
    copied = {path.name: path.read_bytes() for path in DEMO_SDK.glob("*.js")}
    assert sorted(copied) == sorted(built), f"{DEMO_SDK} holds other modules than the build: {REBUILD}"
    stale = sorted(name for name, text in built.items() if copied[name] != text)
    assert not stale, f"{DEMO_SDK} differs from a fresh build in {stale}: {REBUILD}"
