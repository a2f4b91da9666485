#!/usr/bin/env bash
# Build a fresh venv the way a Hugging Face Gradio-SDK Space's builder does, from the requirement
# files alone, then check it: tests/test_environment.py and `import app`. This is the proof that
# the Space needs no hand step and app.py needs no pip at start-up.
#   bash scripts/space_build_check.sh            venv in /tmp/portrait-lab-space-check, removed after
#   bash scripts/space_build_check.sh --keep     keep it (about 6.5 GB)
# The builder's steps (see README "Hosting"): apt-get install packages.txt (needs root: printed
# here, not run), pip install -U pip, pip install -r pre-requirements.txt when the file exists,
# then ONE pip command: requirements.txt together with the Space's Gradio SDK, uvicorn,
# websockets and spaces. It reads PyPI only, so local pip config files, find-links and extra
# indexes are ignored here. Set PIP_NO_CACHE_DIR=1 to download everything as the builder does.
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
PYTHON="${PYTHON:-python3}"
VENV="${SPACE_CHECK_VENV:-/tmp/portrait-lab-space-check}"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_NO_BUILD_ISOLATION PIP_CONSTRAINT

front() { sed -n '/^---$/,/^---$/p' README.md | sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p"; }
sdk_version=$(front sdk_version)
want_python=$(front python_version)
have_python=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "check: Space front matter: gradio $sdk_version, python ${want_python:-default}; this python: $have_python"
[ -n "$want_python" ] && [ "$want_python" != "$have_python" ] && echo "check: WARNING: python differs from the Space's" >&2

step() { echo "check: [$((SECONDS - t0))s] $*"; }
t0=$SECONDS
if [ -f packages.txt ]; then
    step "packages.txt (apt-get, needs root; not run here): $(grep -v '^\s*#' packages.txt | xargs)"
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip)
step "pip install -U pip"
"${pip[@]}" install -q -U pip
if [ -f pre-requirements.txt ]; then
    step "pip install -r pre-requirements.txt"
    "${pip[@]}" install -q -r pre-requirements.txt
fi
step "pip install -r requirements.txt with the SDK (one command, as the builder)"
t1=$SECONDS
"${pip[@]}" install -q -r requirements.txt "gradio[oauth,mcp]==$sdk_version" "uvicorn>=0.14.0" "websockets>=10.4" spaces
step "installed in $((SECONDS - t1))s"

echo "check: pip list: $("${pip[@]}" list 2>/dev/null | tail -n +3 | wc -l) distributions; venv size: $(du -sh "$VENV" | cut -f1)"
echo "check: pip check:"
"${pip[@]}" check
step "python -c 'import app'"
"$VENV/bin/python" -c "import app"
step "tests/test_environment.py (pytest from requirements-dev.txt, installed after the numbers above)"
"${pip[@]}" install -q -r requirements-dev.txt
"$VENV/bin/python" -m pytest tests/test_environment.py -q -p no:randomly -p no:cacheprovider
step "done: the Space's install works with no start-up install"
[ "$KEEP" = 1 ] || rm -rf "$VENV"
