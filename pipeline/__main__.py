"""``python -m pipeline``: the command-line interface."""
from __future__ import annotations

import sys

if __name__ == "__main__":
    try:  # importing the CLI takes a moment (numpy, Pillow): Ctrl-C then must not print a traceback
        from pipeline.cli import main, restore_default_signals, terminate_as_interrupt
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    terminate_as_interrupt()
    code = main()
    restore_default_signals()  # shutting down: a late signal just ends the process
    sys.exit(code)
