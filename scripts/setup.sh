#!/usr/bin/env bash
# Create .venv and install Portrait Lab's pinned dependencies. Idempotent: when the
# requirement files have not changed since the last successful run, it does nothing.
#   bash scripts/setup.sh          runtime dependencies
#   bash scripts/setup.sh --dev    plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

files="requirements.txt requirements-nodeps.txt scripts/setup.sh"
[ "$DEV" = 1 ] && files="$files requirements-dev.txt"
# shellcheck disable=SC2086
want=$(cat $files | sha256sum | cut -c1-16)
stamp="$VENV/.portrait-lab-setup"
if [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then
    echo "setup: $VENV is up to date"
    exit 0
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Portrait Lab needs Python 3.10 or newer")'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

echo "setup: installing runtime dependencies into $VENV"
"${pip[@]}" install -q -r requirements.txt
"${pip[@]}" install -q --no-deps --no-build-isolation -r requirements-nodeps.txt
if [ "$DEV" = 1 ]; then
    echo "setup: installing test tools"
    "${pip[@]}" install -q -r requirements-dev.txt
fi
# Fail here, not in the first request, if the environment is broken.
"$VENV/bin/python" -c 'from pipeline.models.compat_basicsr import import_gfpgan_clean_arch; import_gfpgan_clean_arch(); import cv2, facenet_pytorch, facexlib, gradio; assert cv2.__version__.startswith("4."), cv2.__version__'
echo "$want" > "$stamp"
echo "setup: done"
