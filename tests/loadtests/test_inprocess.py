"""`python -m loadtests.inprocess` makes every write it reports, on the database it was given, and counts its calls."""

from __future__ import annotations

import pstats
import re
import sqlite3
import sys
from pathlib import Path

import redis

from tests.loadtests.tools import run_tool

RUN_TIMEOUT = 120.0
CUSTOMERS = 20
WRITES = 300


def test_every_reported_write_is_in_the_log(tmp_path: Path) -> None:
    """Each customer's first add and every measured write are events in the SQLite file; the profile is written."""
    database, profile = tmp_path / "inprocess.db", tmp_path / "calls.prof"
    command = [
        sys.executable,
        "-m",
        "loadtests.inprocess",
        f"--db=sqlite+aiosqlite:///{database}",
        f"--writes={WRITES}",
        f"--customers={CUSTOMERS}",
        "--concurrency=8",
        f"--profile={profile}",
    ]
    result = run_tool(command, RUN_TIMEOUT)
    output = f"{result.stdout}\n--- stderr ---\n{result.stderr[-4000:]}"
    assert result.returncode == 0, output
    assert f"answers:      200: {WRITES}" in result.stdout, output
    for figure in ("main thread", "process"):
        assert re.search(rf"^{figure}: +\d+ us CPU per write$", result.stdout, re.MULTILINE), output
    calls = re.search(r"^python calls: ([\d,.]+) per write", result.stdout, re.MULTILINE)
    assert calls is not None, output

    with sqlite3.connect(database) as connection:
        (events,) = connection.execute("SELECT count(*) FROM events WHERE kind LIKE 'cart.%'").fetchone()
        (customers,) = connection.execute("SELECT count(*) FROM customers").fetchone()
    assert (customers, events) == (CUSTOMERS, CUSTOMERS + WRITES)
    recorded = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    total = sum(entry[1] for entry in recorded.values())
    assert float(calls.group(1).replace(",", "")) == round(total / WRITES, 1)


def test_with_redis_every_write_rings_a_doorbell(tmp_path: Path, redis_url: str) -> None:
    """--redis fans out as `omnicart serve --redis` does: every write rings its doorbell (other tests may ring more)."""

    def doorbells_so_far() -> int:
        with redis.Redis.from_url(redis_url) as client:
            stats = client.info("commandstats").get("cmdstat_spublish", {})
        return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0

    before = doorbells_so_far()
    command = [
        sys.executable,
        "-m",
        "loadtests.inprocess",
        f"--db=sqlite+aiosqlite:///{tmp_path / 'inprocess.db'}",
        f"--redis={redis_url}",
        f"--writes={WRITES}",
        f"--customers={CUSTOMERS}",
    ]
    result = run_tool(command, RUN_TIMEOUT)
    assert result.returncode == 0, f"{result.stdout}\n--- stderr ---\n{result.stderr[-4000:]}"
    assert doorbells_so_far() - before >= CUSTOMERS + WRITES


def test_sizes_below_one_are_refused(tmp_path: Path) -> None:
    """Bad sizes are refused before anything runs, with the option's name."""
    result = run_tool([sys.executable, "-m", "loadtests.inprocess", "--writes=0"], RUN_TIMEOUT)
    assert result.returncode == 2 and "--writes must be at least 1" in result.stderr, result.stderr
