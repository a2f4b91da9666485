#!/usr/bin/env bash
# Set up (if needed), fetch the default models (verified by size and sha256) and start the
# web app on http://127.0.0.1:7860. Extra arguments go to app.py (--host, --port, --share...).
# Without internet the fetch fails clearly and the app starts anyway: it shows which models
# are missing, uses the offline detector and matting, and disables what cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv/bin/python -m pipeline weights fetch gfpgan-v1.4 retinaface-r50 parsenet modnet; then
    echo "run: some weights could not be downloaded; starting with what is there (see messages above)." >&2
fi
exec .venv/bin/python app.py "$@"
