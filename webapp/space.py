"""What changes when the app runs on a Hugging Face Space: ZeroGPU.

Kept apart so the rest of the web app reads the same on a Space, in Docker and on a laptop:
off ZeroGPU the model calls below run in-process, unchanged. (The Space installs every
dependency from requirements.txt at build time; nothing is installed at start-up.)

ZeroGPU: what runs where
------------------------
``spaces.GPU`` runs the function it decorates in a *forked* worker process: the arguments are
pickled in, the return value is pickled back, and every other change the worker makes to
Python objects stays in the worker. The session storage (uploads and their owners, running
jobs, work folders), the logs and the error mapping must see every job, so the cut is:

- **Main process** (each action of ``webapp/handlers.py``): the visitor, the input checks, the
  session's job mark, the work folder, the uploads tied to the session, the batch's room on
  disk, the job's log line and the visitor's sentence for an error.
- **GPU worker** (:func:`run_on_gpu`, the only function decorated): one ``Studio`` method,
  given plain picklable inputs (file paths, option dataclasses, the work folder's path) in a
  :class:`GpuCall`, returning the studio's plain outcome (paths and text) or a :class:`Raised`.
- **The studio is not an argument.** :class:`GpuStudio` puts it in this module's ``_STUDIOS``
  when the app is built, before the first call forks the worker, so the worker already holds
  it, with the models ``Studio.warm_up`` loaded at start-up: ZeroGPU's documented pattern
  (models loaded in the main process, used in the worker). A call names it by a handle.
- **Errors come back as values** (:class:`Raised`) and are raised again in the main process:
  spaces would turn any other exception into "ZeroGPU worker error" and its class name, and
  the visitor would lose the sentence a typed error carries.
- **One decorated function** for the four actions: spaces keeps one worker per decorated
  function, and each worker moves every model to the GPU; one function means one worker.

The lease each call asks for is computed per call (``spaces.GPU(duration=callable)``, spaces
0.29.2 and later: ZeroGPU calls it with the call's own arguments, in the main process, before
it schedules): a start-up allowance plus the number of images times a per-image estimate,
capped at ZeroGPU's maximum (:func:`lease_seconds`). A batch counts its uploaded photos and
the image members of its zips without unpacking them (:func:`count_images`). The
micro-batcher stays off on ZeroGPU (:func:`engine_speed`).

``spaces`` must be imported before torch (on ZeroGPU it patches torch as it loads, and refuses
to start once CUDA is initialised): this module imports it first and nothing torch-heavy at
import, and ``app.py`` imports this module before anything imports torch.
"""
from __future__ import annotations

try:  # first, before anything imports torch (see above); _spaces_gpu finds it in sys.modules
    import spaces  # type: ignore[import-not-found]

    # With SPACES_GRADIO_AUTO_WRAP set, Gradio would put every event's whole function under
    # spaces.GPU, storage and logging included: the cut described above must hold regardless.
    getattr(spaces, "disable_gradio_auto_wrap", lambda: None)()
except ImportError:  # not a Space: every model call runs in-process
    pass

import dataclasses
import os
import pickle
import sys
import weakref
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.limits import max_batch_files_from_env

if TYPE_CHECKING:  # hints only: these import torch, which must wait for spaces
    from gradio import Progress

    from pipeline.batch.report import BatchSummary
    from pipeline.cutout.background import BackgroundOptions
    from pipeline.models.accelerate import SpeedSettings
    from pipeline.restore.engine import RestoreOptions
    from webapp.review import FaceReview
    from webapp.studio import BackgroundOutcome, IdPhotoOutcome, RestoreOutcome, Studio


# The GPU lease a call asks for, in seconds. It is a guard, not the bill (the time used is what
# counts against the visitor's quota), but a shorter one is scheduled sooner and a call that
# outlives it may be stopped. Estimates for ZeroGPU's GPU slice with generous margins:
LEASE_START_S = 20  # a new worker: the fork, CUDA, every model moved to the GPU
LEASE_PER_IMAGE_S = {"restore": 10, "background": 6, "idphoto": 10}  # ID photos detect and matte twice
# ZeroGPU refuses a longer request outright: "5 minutes is the maximum time that can be
# requested at once" (huggingface.co/spaces/zero-gpu-explorers/README/discussions/7).
LEASE_MAX_S = 300
# The Studio methods that run in the GPU worker: the model calls, and nothing else.
GPU_METHODS = frozenset({"restore", "reblend", "replace_background", "id_photo", "batch"})

# The studios the worker can reach, by handle: filled when the app is built, before any fork.
_STUDIOS: weakref.WeakValueDictionary[int, Studio] = weakref.WeakValueDictionary()


def _spaces_gpu() -> Callable[..., Any] | None:
    """``spaces.GPU`` where the package is installed (every Gradio SDK Space has it), else None.
    The module imported at the top, looked up when the app is built, so that a test can put a
    stand-in in ``sys.modules`` first."""
    module = sys.modules.get("spaces")
    return None if module is None else module.GPU


def zero_gpu() -> bool:
    """Whether this is ZeroGPU hardware: the spaces package is there and says so with
    SPACES_ZERO_GPU=true (elsewhere its decorator does nothing)."""
    flag = os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")
    return flag and _spaces_gpu() is not None


def on_gpu(fn: Callable[..., Any], duration: Callable[..., int]) -> Callable[..., Any]:
    """``fn`` under ``spaces.GPU`` with a lease computed per call by ``duration`` (called with
    ``fn``'s arguments); ``fn`` itself where the spaces package is not installed."""
    gpu = _spaces_gpu()
    return fn if gpu is None else gpu(duration=duration)(fn)


def engine_speed() -> SpeedSettings:
    """The speed switches from the environment; on ZeroGPU without the micro-batcher, whose
    worker thread would outlive the GPU that ZeroGPU lends to one decorated call at a time."""
    from pipeline.models.accelerate import speed_from_environment

    speed = speed_from_environment()
    return dataclasses.replace(speed, micro_batch=False) if zero_gpu() else speed


# -- the model calls, and the one function that runs them in the GPU worker ----------------
@dataclass(frozen=True)
class GpuCall:
    """One model call as it crosses into the worker (pickled): which studio and method, the
    method's plain arguments, and what the lease is sized by."""

    studio: int  # a handle from GpuStudio; the studio itself is already in the worker's memory
    method: str  # one of GPU_METHODS
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    work: str  # restore, background or idphoto: which per-image estimate applies
    images: int = 1
    lang: str = "en"  # the visitor's language: the studio's words are written in the worker


@dataclass(frozen=True)
class Raised:
    """An exception of the worker, carried back as a value and raised again in the main process."""

    error: Exception


def lease_seconds(call: GpuCall, progress: Progress | None = None) -> int:
    """The lease for one call: ZeroGPU passes it the arguments of :func:`run_on_gpu`."""
    per_image = LEASE_PER_IMAGE_S.get(call.work, max(LEASE_PER_IMAGE_S.values()))
    return min(LEASE_MAX_S, LEASE_START_S + max(1, call.images) * per_image)


def run_on_gpu(call: GpuCall, progress: Progress | None = None) -> Any:
    """Run one studio method: on ZeroGPU in the forked worker. ``progress`` (the visitor's
    progress bar, which spaces relays to the main process) becomes the per-photo callback of a
    batch and the per-stage one of an ID photo. Whatever goes wrong is returned, not raised (see :class:`Raised`)."""
    try:
        if call.method not in GPU_METHODS:
            raise ValueError(f"{call.method!r} is not a model call")
        from webapp.language import speaking  # the worker does not share the handler's context

        kwargs = dict(call.kwargs)
        if progress is not None:
            kwargs["progress"] = PROGRESS_ADAPTERS[call.method](progress)
        with speaking(call.lang):
            return getattr(_STUDIOS[call.studio], call.method)(*call.args, **kwargs)
    except Exception as error:  # every one goes back to the main process, whose handler maps it
        return Raised(_portable(error))


def _per_photo(progress: Progress) -> Callable[[int, int, str], None]:
    def report(index: int, total: int, _name: str) -> None:
        progress((index, total), desc="Processing", unit="images")

    return report


def _per_stage(progress: Progress) -> Callable[[float, str], None]:
    def report(share: float, words: str) -> None:
        progress(share, desc=words)

    return report


# How each studio method reports progress: a batch per photo, an ID photo per stage.
PROGRESS_ADAPTERS: dict[str, Callable[[Progress], Callable[..., None]]] = {"batch": _per_photo, "id_photo": _per_stage}


def _portable(error: Exception) -> Exception:
    """The error itself when it survives pickling (every PortraitLabError does), else a
    RuntimeError that names its class, so that something always comes back."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__} in the GPU worker")
    return error


class GpuStudio:
    """The studio's model calls as the handlers make them: the signatures of
    :class:`webapp.studio.Studio`'s methods, each call made through :func:`run_on_gpu`."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio  # kept alive here; the registry only refers to it
        self.handle = id(studio)
        _STUDIOS[self.handle] = studio
        self._run = on_gpu(run_on_gpu, duration=lease_seconds)

    def restore(self, photo: str, options: RestoreOptions, out_dir: Path, *, fmt: str) -> RestoreOutcome:
        return self._call("restore", "restore", 1, (photo, options, out_dir), fmt=fmt)

    def reblend(self, review: FaceReview, face: int, strength: float, out_dir: Path) -> RestoreOutcome:
        return self._call("reblend", "restore", 1, (review, face, strength, out_dir))

    def replace_background(self, photo: str, options: BackgroundOptions, out_dir: Path, *, fmt: str,
                           backdrop: str | None, found: Path | None = None) -> BackgroundOutcome:
        return self._call("replace_background", "background", 1, (photo, options, out_dir), fmt=fmt,
                          backdrop=backdrop, found=found)

    def id_photo(self, photo: str, spec_id: str, out_dir: Path, *, progress: Progress | None = None,
                 **options: Any) -> IdPhotoOutcome:
        return self._call("id_photo", "idphoto", 1, (photo, spec_id, out_dir), progress, **options)

    def batch(self, sources: Sequence[str], job: str, out_dir: Path, *, progress: Progress | None = None,
              **options: Any) -> BatchSummary:
        return self._call("batch", job, count_images(sources), (list(sources), job, out_dir), progress,
                          **options)

    def _call(self, method: str, work: str, images: int, args: tuple[Any, ...], progress: Progress | None = None,
              **kwargs: Any) -> Any:
        from webapp.language import VISITOR_LANGUAGE

        result = self._run(GpuCall(self.handle, method, args, kwargs, work, images, VISITOR_LANGUAGE.get()), progress)
        if isinstance(result, Raised):
            raise result.error
        return result


def count_images(sources: Sequence[str | Path]) -> int:
    """How many photos a batch holds, cheaply, for its lease: one per uploaded file, and the
    image members of each zip as its directory lists them (nothing is unpacked); at most the
    batch limit, at least one."""
    limit = max_batch_files_from_env()
    total = 0
    for source in sources:
        path = Path(source)
        total += _zip_images(path) if path.suffix.lower() == ".zip" else 1
        if total >= limit:
            return limit
    return max(1, total)


def _zip_images(path: Path) -> int:
    from pipeline.batch.inputs import is_photo_member  # at request time: this module loads before torch

    try:
        with zipfile.ZipFile(path) as archive:
            return sum(1 for info in archive.infolist() if is_photo_member(info))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return 1  # the batch reports what is wrong with it; the estimate only needs a number
