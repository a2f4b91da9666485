#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. This is the README's test command and
# exactly what CI runs (.ci/run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# The browser tests drive Debian's Chromium, and the language test needs a font with CJK
# glyphs (Noto CJK, what a Linux desktop has; phones and other systems have their own). Install
# them when this machine allows it; where it cannot, those tests are skipped and say so.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=ja family 2>/dev/null)" ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo -n"
    if [ "$(id -u)" = 0 ] || [ -n "$sudo_cmd" ]; then
        echo "test: installing Debian ${need[*]} for the browser tests"
        { $sudo_cmd apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
          || { $sudo_cmd apt-get update -q >/dev/null 2>&1 && $sudo_cmd apt-get install -y -q "${need[@]}" >/dev/null 2>&1; }; } \
          || echo "test: could not install ${need[*]}; the tests that need them will be skipped" >&2
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
