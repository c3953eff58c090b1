#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes .venv, installs Omnicart with its test tools, runs pytest.
# Tests needing PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) skip with a reason when those are absent,
# and fail instead when CI=true. Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
# The JS SDK (tests/sdk_js runs it against real servers): installed and built quietly; its output only on failure.
if command -v node >/dev/null 2>&1; then
    if ! sdk_js_log=$(cd sdk_js && npm ci --no-audit --no-fund 2>&1 && npm run build 2>&1); then
        echo "$sdk_js_log" >&2
        exit 1
    fi
elif [ "${CI:-}" = "true" ]; then
    echo "node is not installed: CI=true requires it for the JS SDK tests (tests/sdk_js)" >&2
    exit 1
fi
# The browser tests (tests/browser) drive Debian's chromium with playwright-core: install both when missing.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if command -v npm >/dev/null 2>&1; then
    if ! browser_log=$(cd tests/browser && npm ci --no-audit --no-fund 2>&1); then
        echo "$browser_log" >&2
        exit 1
    fi
fi
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
