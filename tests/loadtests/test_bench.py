"""`python -m loadtests.bench` end to end.

A quick run fills every row of its table (a figure, or a stated skip); a round the machine cannot hold is refused up
front; a client process that dies is reported at once.
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.loadtests.tools import run_tool
from tests.support.databases import PostgresDatabases

RUN_TIMEOUT = 120.0
"""Seconds the quick run (~45 s on 2 busy cores) may take before it counts as hung."""
ROWS = ("mutations", "latency", "rss", "resume", "scaling", "ceiling", "peer")
"""Issue 8's figures: the mutations rate, latency, memory, resume, 1 -> 2 processes, the ceiling and the peer."""


def markdown_rows(text: str) -> list[dict[str, str]]:
    """The rows of the Markdown table by column name."""
    lines = [line.strip()[2:-2].split(" | ") for line in text.splitlines() if line.startswith("| ")]
    columns, body = lines[0], lines[2:]
    return [dict(zip(columns, cells, strict=True)) for cells in body]


def test_quick_run_fills_every_row(tmp_path: Path) -> None:
    """Every row has a number in its figure or says "skipped: <why>"; stdout carries the same table and the machine."""
    markdown = tmp_path / "bench.md"
    result = run_tool([sys.executable, "-m", "loadtests.bench", "--quick", "--markdown", str(markdown)], RUN_TIMEOUT)
    output = f"{result.stdout}\n--- stderr ---\n{result.stderr[-6000:]}"
    assert result.returncode == 0, output
    assert re.search(r"^machine: .*cores.*GiB RAM.*Python .*SQLite \d", result.stdout, re.MULTILINE), output
    assert re.search(r"^others: .*\d+ CPU-s.*took [\d.]+ CPU-s \(\d+%, steal\)", result.stdout, re.MULTILINE), output

    rows = markdown_rows(markdown.read_text())
    assert sorted({row["row"] for row in rows}) == sorted(ROWS), rows
    skipped = {}
    for row in rows:
        figure = row["figure"]
        if figure.startswith("skipped: "):
            skipped[row["row"]] = figure
        else:
            assert re.search(r"\d", figure), row
        assert figure in result.stdout, (figure, output)
        if row["row"] == "latency":  # where the CPU went, to tell a queue in the server from a box short of cores
            window = r"while writing, the server's main thread ran \d+% of the time and waited for a core \d+%"
            assert re.search(window, row["notes"]), row
            # where the tail forms: before the HTTP answer (the write path) or after it (fan-out); a stall or not
            assert re.search(r"HTTP answer p99 [\d.]+ ms", row["notes"]), row
            assert re.search(r"the slowest 1 % sent in \d+ of \d+ tenths of a second", row["notes"]), row
    assert set(skipped) <= {"scaling"}, skipped
    if skipped:
        unavailable(f"the 1 -> 2 processes row needs Redis: {skipped['scaling']}")


@pytest.mark.postgres
def test_a_postgresql_run_shows_the_mutations_rate_without_judging_it_by_sqlites_target(
    tmp_path: Path, postgres_databases: PostgresDatabases
) -> None:
    markdown = tmp_path / "bench.md"
    db_url = postgres_databases.new_unmigrated()
    command = [sys.executable, "-m", "loadtests.bench", "--quick", "--only", "mutations", "--db", db_url]
    result = run_tool([*command, "--markdown", str(markdown)], RUN_TIMEOUT)
    assert result.returncode == 0, f"{result.stdout}\n--- stderr ---\n{result.stderr[-6000:]}"
    (row,) = markdown_rows(markdown.read_text())
    assert "PostgreSQL" in row["measure"], row
    assert re.fullmatch(r"[\d,]+/s", row["figure"]), row
    assert row["target"] == "(>= 5,000/s on SQLite)", row
    assert row["met"] == "", row


OPEN_FILE_LIMIT = 1024
"""The open-file limit the refusal test runs the bench under: 1,000 devices and the measurement's sockets exceed it."""


def _open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILE_LIMIT, OPEN_FILE_LIMIT))


def test_rounds_past_the_open_file_limit_are_refused_before_any_server_starts() -> None:
    """Allowed 1,024 open files, 1,000 devices do not fit in the server: the bench says how many would, up front."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < OPEN_FILE_LIMIT:
        pytest.skip(f"the hard open-file limit here ({hard}) is already below {OPEN_FILE_LIMIT}")
    command = [sys.executable, "-m", "loadtests.bench", "--only", "rss", "--devices", "200,1000"]
    result = run_tool(command, RUN_TIMEOUT, preexec=_open_file_limit)
    assert result.returncode == 2, f"{result.stdout}\n--- stderr ---\n{result.stderr[-6000:]}"
    assert re.search(
        r"error: 1,000 devices need ~[\d,]+ open files in the server, over this machine's limit of 1,024 "
        r"\(ulimit -Hn\): use at most \d+",
        result.stderr,
    ), result.stderr
    assert "starting" not in result.stderr, result.stderr


DEAD_MEASUREMENT = """
import multiprocessing
from loadtests.bench_stream import MeasureSettings, OmnicartTarget, free_port, run_measurement

nowhere = OmnicartTarget(f"http://127.0.0.1:{free_port()}")
settings = MeasureSettings(nowhere, nowhere, customers=1, rate=1, duration=1, resume_events=0, resume_repeats=1)
try:
    run_measurement(multiprocessing.get_context("spawn"), settings)
except RuntimeError as exc:
    print("reported:", exc)
"""
"""A measurement against a port nobody listens on: its client process fails before it reports anything."""


def test_a_client_process_that_dies_is_reported_at_once_not_after_the_phase_timeout() -> None:
    """The bench waits up to 15 minutes for a phase's report; a client that died must not cost that wait."""
    result = run_tool([sys.executable, "-c", DEAD_MEASUREMENT], RUN_TIMEOUT)
    assert "reported: a client process died during the measurement" in result.stdout, result.stderr[-3000:]
