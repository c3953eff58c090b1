"""The code stays typed, linted and formatted: mypy --strict and ruff over the packages, examples and tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON_CODE = ("server", "sdk_python", "examples", "tests", "loadtests")


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
    """ruff finds no lint error in the server, the SDK, the examples, the tests or the load tests."""
    result = _run("ruff", "check", "--output-format", "concise", *PYTHON_CODE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted() -> None:
    """`ruff format` would change nothing: a stranger's diff shows their change, not a reformat of ours."""
    result = _run("ruff", "format", "--check", *PYTHON_CODE)
    assert result.returncode == 0, result.stdout + result.stderr
