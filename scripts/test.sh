#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. This is the README's test command and
# exactly what CI runs (.ci/run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# The browser test drives Debian's Chromium. Install it when this machine allows it; where it
# cannot be installed, that one test is skipped and says so.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo -n"
    if [ "$(id -u)" = 0 ] || [ -n "$sudo_cmd" ]; then
        echo "test: installing Debian chromium for the browser test"
        { $sudo_cmd apt-get install -y -q chromium >/dev/null 2>&1 \
          || { $sudo_cmd apt-get update -q >/dev/null 2>&1 && $sudo_cmd apt-get install -y -q chromium >/dev/null 2>&1; }; } \
          || echo "test: could not install chromium; the browser test will be skipped" >&2
    fi
fi
# The accessibility test runs axe-core (pinned in tests/browser/package-lock.json) in the page.
# Without npm, or when the install fails, those tests are skipped and say why.
if command -v npm >/dev/null 2>&1; then
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null \
        || echo "test: npm ci failed in tests/browser; the axe-core checks will be skipped" >&2
else
    echo "test: npm not found; the axe-core checks will be skipped (install Node.js 18+ with npm)" >&2
fi
exec .venv/bin/python -m pytest "$@"
