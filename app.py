"""Portrait Lab web app: the launcher (the Space and the Docker image run this file).

Reads the settings, builds the app (``webapp/server.py``) and serves it; the UI is in
``webapp/tabs/``, the actions in ``webapp/handlers.py``, the image work in ``pipeline/``.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --share
"""
from __future__ import annotations

import logging
import sys

# First of the project's imports: webapp/space.py imports `spaces`, which on ZeroGPU must come
# before anything imports torch (tests/webapp/test_app_zerogpu.py checks the order).
import webapp.space  # noqa: F401  # isort: skip
from pipeline.core.errors import PortraitLabError
from webapp.config import load_config
from webapp.server import build_app

log = logging.getLogger("portrait_lab.app")


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config(argv)
        app = build_app(config)
        loaded = app.studio.warm_up()
        log.info("loaded %d model(s) at start-up", len(loaded))
    except PortraitLabError as error:
        print(f"error: {error.user_message}", file=sys.stderr)
        return 2
    app.launch(block=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
