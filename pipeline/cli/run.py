"""Running an image command (restore, idphoto, background) over its inputs: the CLI's adapter
to the one batch loop, :func:`pipeline.runner.run_each`. What stays here is what only the
command line does: a progress bar, one line per problem or note, the count of images whose
files are on disk, the summary line and the exit code the run ends with.

Exit codes: 0 all done; 1 some inputs failed (an internal error on one image included); 2 a
usage error (options, settings, missing weights), nothing processed; 3 the run stopped early
(disk full, output not writable, an internal error outside any one image); 130 interrupted
(Ctrl-C or SIGTERM).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.cli.inputs import SAMPLE_NAME, Jobs, Problems
from pipeline.core.decode import DecodedImage, decode_image
from pipeline.core.errors import OutputWriteError
from pipeline.runner import ItemOutcome, run_each

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
WARNING = "warning: "
Finished = Callable[[list[Path]], None]  # called by publish() with what it wrote
Work = Callable[[str, str, DecodedImage, Finished], list[str]]


@dataclass
class RunOutcome:
    """What a run of an image command came to, counted as it goes: ``done`` only once an
    image's files are on disk, ``failed`` with the sentence shown for each."""

    total: int
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    with_warnings: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why the run ended early (disk full...), if it did
    interrupted: bool = False

    def tell(self, item: ItemOutcome, progress: Any, *, debug: bool) -> None:
        """One input's lines (under the progress bar): its failure, counted, or its notes."""
        name = printable(item.item[0])
        if item.failed:
            message = item.error.user_message if item.error is not None else _internal_error_message(item.internal)
            self.failed.append((name, message))
            progress.write(f"{name}: {message}", file=sys.stderr)
            if item.internal is not None and debug:
                traceback.print_exception(item.internal)
            return
        notes: list[str] = item.result
        self.with_warnings += any(note.startswith(WARNING) for note in notes)
        for note in notes:
            progress.write(f"{name}: {note}", file=sys.stderr)

    def summarise(self, verb_past: str, output: Path, detail: str = "") -> int:
        """Print the summary line (what was finished and where) and return the exit code."""
        where = f"output in {output}"
        if self.interrupted:
            print(f"Interrupted: {self.done} of {self.total} image(s) were finished; {where}.", file=sys.stderr)
            return EXIT_INTERRUPTED
        if self.stopped:
            print(f"Stopped: {self.stopped}", file=sys.stderr)
            print(f"{self.done} of {self.total} image(s) were finished before that; {where}.", file=sys.stderr)
            return EXIT_STOPPED
        print(f"{verb_past} {self.done} of {self.total} image(s){detail}; {len(self.failed)} failed, "
              f"{self.with_warnings} with warnings; {self.seconds:.1f} s; {where}")
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


def run_images(args: argparse.Namespace, prepared: tuple[Jobs, Problems], verb: str,
               load_work: Callable[[], Work]) -> RunOutcome:
    """Load the models (``load_work``, only when there is an image to process), then run
    ``work(name, stem, image, finished) -> notes`` per input with a progress bar; report
    errors and carry on. A write failure (disk full) stops the run; Ctrl-C ends it with a
    count of the images whose results are on disk (``finished`` is passed to publish)."""
    from tqdm import tqdm

    started = time.perf_counter()
    jobs, problems = prepared
    outcome = RunOutcome(total=len(jobs) + len(problems), failed=list(problems))
    work = load_work() if jobs else None

    def finished(paths: list[Path]) -> None:  # counted before a deferred Ctrl-C can land
        outcome.done += 1

    def run_one(job: tuple[str, Path | None]) -> list[str]:
        raw_name, source = job
        stem = source.stem if source is not None else SAMPLE_NAME
        return work(printable(raw_name), stem, _load(source), finished)

    progress = tqdm(jobs, desc=verb.capitalize(), unit="image", file=sys.stderr, disable=None)
    try:
        run_each(progress, run_one, lambda item: outcome.tell(item, progress, debug=args.debug),
                 stop_on=(OutputWriteError,))
    except OutputWriteError as error:
        outcome.stopped = error.user_message
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        progress.close()
    for name, message in problems:
        print(f"{printable(name)}: {message}", file=sys.stderr)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _load(source: Path | None) -> DecodedImage:
    return decode_image(source) if source is not None else _sample_image()


def _sample_image() -> DecodedImage:
    from pipeline.core.samples import astronaut

    return DecodedImage(rgb=astronaut(), alpha=None, source_format="PNG", notes=())


def _internal_error_message(error: BaseException) -> str:
    """A bug's one line: what kind of failure, never its internal text (paths, tensors)."""
    return (f"could not be processed because of an internal error ({type(error).__name__}); "
            "run again with --debug to see where, and please report it")


def printable(name: str) -> str:
    """A file name as one printable line (a newline in a name must not fake another line)."""
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
