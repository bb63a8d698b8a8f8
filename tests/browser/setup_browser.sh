#!/usr/bin/env bash
# Sets up the browser tests (tests/browser): Debian's Chromium and the pinned Playwright.
# Idempotent and quick when both are there. Usage: tests/browser/setup_browser.sh [PYTHON]
# PYTHON: the interpreter that runs pytest (default: the repo's .venv/bin/python).
# Playwright drives /usr/bin/chromium; `playwright install` (a browser download) is never used.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${1:-$repo/.venv/bin/python}"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup_browser.sh: /usr/bin/chromium is missing; install it as root: apt-get install -y chromium" >&2
        exit 1
    fi
    echo "[browser] installing Debian's chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null
fi

"$python" -m pip install --quiet --disable-pip-version-check -r "$repo/requirements-browser.txt"
echo "[browser] $(/usr/bin/chromium --version 2>/dev/null | head -n 1); playwright $("$python" -c 'import importlib.metadata as m; print(m.version("playwright"))')" >&2
