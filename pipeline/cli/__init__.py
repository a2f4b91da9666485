"""Command-line interface: ``python -m pipeline {restore,idphoto,background,specs,weights,info}``.

This package's front door is ``main``, the command line's one exit, where every failure
becomes one sentence and an exit code. The grammar is in :mod:`pipeline.cli.parser`
(choices read from the weights manifest, never typed here); what each command does is in
:mod:`pipeline.cli.commands`; inputs and the output folder are checked before any image is
processed (:mod:`pipeline.cli.inputs`); a run over many images goes through the one batch
loop (:mod:`pipeline.runner`, through :mod:`pipeline.cli.run`), which reports per-file errors and carries on. Building the
parser imports no torch, so ``--help``, ``specs`` and ``weights list`` answer at once.

Exit codes: 0 all done; 1 some inputs failed (an internal error on one image included); 2 a
usage error (options, settings, missing weights), nothing processed; 3 the run stopped early
(disk full, output not writable, an internal error outside any one image); 130 interrupted
(Ctrl-C or SIGTERM).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence

from pipeline.cli.parser import build_parser
from pipeline.cli.run import EXIT_INTERRUPTED, EXIT_OK, EXIT_STOPPED, EXIT_USAGE
from pipeline.core.errors import OutputWriteError, PortraitLabError, os_reason
from pipeline.core.publish import TERMINATING_SIGNALS


# -- entry point ----------------------------------------------------------------------------
def terminate_as_interrupt() -> None:
    """SIGTERM (a service stop, `kill`) ends a run like Ctrl-C: with a count, and no half sets.
    Installed by ``python -m pipeline`` only, never by a program that imports ``main``."""
    if threading.current_thread() is threading.main_thread():
        for number in TERMINATING_SIGNALS:
            signal.signal(number, _raise_keyboard_interrupt)


def restore_default_signals() -> None:
    """Undo ``terminate_as_interrupt`` once the command is over."""
    if threading.current_thread() is threading.main_thread():
        for number in TERMINATING_SIGNALS:
            signal.signal(number, signal.SIG_DFL)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _tolerant_streams() -> None:
    """File names need not be valid text (bytes from another system): printing one must show
    an escape, not stop the run with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure becomes one sentence and an exit code, never a traceback."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    _tolerant_streams()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code = args.handler(args)
        sys.stdout.flush()  # a full or closed stdout fails here, inside the handlers below
        return code
    except OutputWriteError as error:
        print(f"Error: {error.user_message}", file=sys.stderr)
        return EXIT_STOPPED
    except PortraitLabError as error:
        print(f"Error: {error.user_message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return EXIT_OK
    except OSError as error:  # e.g. stdout on a full disk (`specs > /dev/full`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the failing stream must not fail again at exit
        print(f"Error: the run stopped: {os_reason(error)}.", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as error:  # noqa: BLE001 - the last door: a bug still gets a sentence, not a traceback
        print(f"Error: the run stopped because of an internal error ({type(error).__name__}). "
              "Run again with --debug to see where, and please report it.", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return EXIT_STOPPED
