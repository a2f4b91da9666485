#!/usr/bin/env bash
# Set up (if needed), fetch the default models (verified by size and sha256) and restore
# the bundled public-domain sample photo into output/. Extra arguments go to `restore`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv/bin/python -m pipeline weights fetch gfpgan-v1.4 retinaface-r50 parsenet; then
    echo "run: some weights could not be downloaded; continuing with what is there (see messages above)." >&2
fi
exec .venv/bin/python -m pipeline restore --sample -o output "$@"
