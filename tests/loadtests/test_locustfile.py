"""The locust load test runs headless against a real server: every user class gets through without a failure."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.loadtests.tools import ROOT, run_tool
from tests.support.identity import api_key
from tests.support.server import StartServer

LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
RUN_TIMEOUT = 60.0
"""Seconds the 5-second run may take in all (start-up, ramp, shutdown) before it counts as hung."""
SHOPPER_ROUTES = [
    ("POST", "/v1/sessions"),
    ("GET", "/v1/catalog"),
    ("POST", "/v1/cart/ops"),
    ("POST", "/v1/handoff"),
    ("POST", "/v1/handoff/claim"),
]
TILL_ROUTES = [("POST", "/v1/cart/ops (till burst)")]
LIVE_ENTRY = ("WS", "write->other device")
LOAD_LIMITS = {
    "OMNICART_HANDOFF_CLAIMS_PER_ADDRESS_PER_MINUTE": "100000",
    "OMNICART_HANDOFF_CLAIMS_PER_CUSTOMER_PER_MINUTE": "100000",
    "OMNICART_ASSIST_PIN_ATTEMPTS_PER_KEY_PER_MINUTE": "100000",
}
"""Every locust user comes from 127.0.0.1: lift the per-address limits so each claim and pickup is really served."""


def locust_command() -> list[str]:
    """The `locust` script next to this Python (the venv's); skipped when locust is not installed (failed on CI)."""
    script = Path(sys.executable).with_name("locust")
    if script.exists():
        return [str(script)]
    found = shutil.which("locust")
    if found is None:
        unavailable("locust is not installed: pip install locust (or the dev extra)")
    return [found]


def read_stats(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of locust's <prefix>_stats.csv by (type, name)."""
    with path.open(newline="") as file:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(file)}


@pytest.mark.parametrize("databases", [pytest.param("sqlite_databases", id="sqlite")], indirect=True)
def test_headless_run_serves_every_user_class_without_failure(start_server: StartServer, tmp_path: Path) -> None:
    """A 5-second headless run of 6 users exits 0 with shopper, till, agent and live-latency requests, none failed."""
    command = locust_command()
    server = start_server(env=LOAD_LIMITS)
    result = run_tool(
        [
            *command,
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            "6",
            "-r",
            "6",
            "-t",
            "5s",
            "--host",
            server.url,
            "--only-summary",
            "--csv",
            str(tmp_path / "run"),
        ],
        RUN_TIMEOUT,
        {"OMNICART_LOADTEST_AGENT_KEY": api_key(server, "agent")},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    stats = read_stats(tmp_path / "run_stats.csv")
    expected = [*SHOPPER_ROUTES, *TILL_ROUTES, ("POST", "/v1/agent/sessions"), LIVE_ENTRY]
    missing = [entry for entry in expected if entry not in stats]
    assert not missing, f"no requests for {missing}\n{output[-6000:]}"
    for entry in expected:
        assert int(stats[entry]["Request Count"]) >= 1, (entry, stats[entry])
        assert stats[entry]["Failure Count"] == "0", (entry, stats[entry])
    assert stats[("", "Aggregated")]["Failure Count"] == "0", output[-6000:]
