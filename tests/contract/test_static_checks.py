"""The code stays typed and linted: mypy --strict and ruff over both packages and the examples, as CI would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_mypy_strict_is_clean() -> None:
    """mypy --strict finds no error in the server or the SDK (config in pyproject.toml)."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_examples_are_typed() -> None:
    """The example apps type-check as strictly as the SDK they show how to use."""
    result = _run("mypy", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    """ruff finds no lint error in the server, the SDK, the examples or the tests."""
    result = _run("ruff", "check", "--output-format", "concise", "server", "sdk_python", "examples", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
