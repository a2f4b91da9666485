"""``python -m pipeline``: the command-line interface."""
from __future__ import annotations

import sys

if __name__ == "__main__":
    try:  # importing the CLI loads torch (seconds): Ctrl-C then must not print a traceback
        from .cli import main
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
