#!/usr/bin/env bash
# Create .venv and install Portrait Lab's pinned dependencies, in the order a Hugging Face
# Space's builder uses (pre-requirements.txt if present, then requirements.txt, each a plain
# `pip install -r`), so this venv and the Space get the same packages. Idempotent: when the
# requirement files have not changed since the last successful run, it does nothing.
#   bash scripts/setup.sh          runtime dependencies
#   bash scripts/setup.sh --dev    plus the test tools and the optional Ray engine
#                                  (requirements-dev.txt includes requirements-ray.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

files="requirements.txt scripts/setup.sh"
[ -f pre-requirements.txt ] && files="pre-requirements.txt $files"
[ "$DEV" = 1 ] && files="$files requirements-dev.txt requirements-ray.txt"
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
# Venvs made before opencv-python replaced opencv-python-headless: both write into cv2/, and
# removing either deletes files the other needs, so both go and requirements.txt puts back one.
if "${pip[@]}" show -q opencv-python-headless >/dev/null 2>&1; then
    "${pip[@]}" uninstall -q -y opencv-python-headless opencv-python
fi
if [ -f pre-requirements.txt ]; then
    "${pip[@]}" install -q -r pre-requirements.txt
fi
"${pip[@]}" install -q -r requirements.txt
if [ "$DEV" = 1 ]; then
    echo "setup: installing test tools and the Ray engine"
    "${pip[@]}" install -q -r requirements-dev.txt
fi
# Fail here, not in the first request, if the environment is broken.
"$VENV/bin/python" -c 'from pipeline.models.compat_basicsr import import_gfpgan_clean_arch; import_gfpgan_clean_arch(); import cv2, facenet_pytorch, facexlib, gradio; assert cv2.__version__.startswith("4."), cv2.__version__'
echo "$want" > "$stamp"
echo "setup: done"
