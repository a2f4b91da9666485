"""``python -m pipeline batch ... --engine ray``: the same batch on Ray Data, over this
machine or a cluster, with the same results, ledger and report as the local loop
(:func:`pipeline.batch.run_batch`).

One process writes. Each Ray actor (one per GPU, else one per CPU) loads the models once
(:class:`~pipeline.batch.pipelines.LocalPipelines` and the job's per-photo function) and turns
each photo into its report row and encoded file, writing nothing. The driver, the machine that
holds the output folder, publishes each result and records it in the ledger as it arrives
(:class:`~pipeline.batch.BatchWriter`), so Ctrl-C or a lost node leaves the ledger true, then
makes the report, rows in input order. A photo whose worker dies on it (after Ray's retries)
becomes that row's failure; the batch goes on.

Actors read each photo at the driver's path: on a cluster the inputs must be on storage every
node mounts at the same path. Ray is an optional extra (requirements-ray.txt), imported only
inside these functions, so nothing else pays for it.
"""
from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.batch import BatchWriter, Finished, Planned, fill_failure, process_item
from pipeline.batch.inputs import BatchItem
from pipeline.batch.jobs import BatchJob, JobOutput
from pipeline.batch.ledger import BatchLedger, item_key, row_from_record, row_record
from pipeline.batch.report import STATUS_ERROR, BatchRow, BatchSummary
from pipeline.core import errors, settings
from pipeline.core.errors import InvalidOptionError, OutputWriteError, PortraitLabError
from pipeline.i18n import DEFAULT_LANGUAGE, Message, render
from pipeline.models.accelerate import DEFAULTS as SPEED_DEFAULTS
from pipeline.runner import run_item

if TYPE_CHECKING:
    from types import ModuleType

    from ray.data import Dataset

RAY_REQUIREMENTS = "requirements-ray.txt"
# Each photo is its own block and batch, so a result reaches the driver the moment it is made
# and a worker lost on one photo loses only that photo. Past this many photos, blocks hold
# several (Ray keeps a reference per block on the driver).
MAX_BLOCKS = 100_000
# A photo whose worker process dies is tried on a fresh actor this many more times (a lost
# node), then reported failed: Ray Data's default retries forever, which a photo that crashes
# its worker would turn into a hang. One photo at a time is sent to an actor, so a crash costs
# no other photo a try.
TASK_RETRIES = 2
LOST_MESSAGE = Message("batch.ray.lost")
UNREADABLE_MESSAGE = Message("batch.ray.unreadable")
NO_PREVIEW = np.zeros((0, 0, 3), np.uint8)  # the row already holds the thumbnails
# A GPU actor takes this many photos per call and works them at once, so its restorer's
# micro-batcher fills one network call with their faces (the CUDA max_batch); a CPU actor
# takes one photo at a time (nothing batches them there).
GPU_PHOTOS_PER_CALL = int(SPEED_DEFAULTS["cuda"]["max_batch"])


def run_batch_on_ray(items: Sequence[BatchItem], job: BatchJob, out_dir: Path, *, extra_rows: Sequence[BatchRow] = (),
                     ledger: BatchLedger | None = None, finished: Finished | None = None, make_zip: bool = True,
                     report_name: str = "report", device: str | None = None, precision: str | None = None,
                     address: str | None = None, workers: int | None = None,
                     planned: Planned | None = None, lang: str = DEFAULT_LANGUAGE) -> BatchSummary:
    """:func:`pipeline.batch.run_batch` on Ray: ``address`` None starts a local Ray for this
    run (stopped at the end), "auto" or ``host:port`` joins a running one; ``workers`` is the
    most actors at once (default: one per GPU of the cluster, else one per CPU). Without
    anything left to do (a finished ledger), Ray is not started. Rows' sentences and the report
    are in ``lang``, as the local engine's."""
    ray = import_ray()
    started = time.perf_counter()
    writer = BatchWriter(Path(out_dir), job.kind, ledger=ledger, finished=finished, lang=lang)
    todo, earlier = writer.plan(items, planned)
    fresh: dict[int, BatchRow] = {}
    if todo:
        with ray_session(ray, address):
            dataset = photo_dataset(ray, todo, job, device=device, precision=precision, workers=workers,
                                    lang=lang)
            collect(dataset.iter_rows(), todo, writer, fresh)
    for index, item in enumerate(todo):
        if index not in fresh:  # its worker died on it on every try: the batch goes on without it
            fresh[index] = BatchRow(item.name, STATUS_ERROR, message=LOST_MESSAGE.text(lang))
            writer.ended(item, fresh[index], written=False)
    by_item = {id(item): fresh[index] for index, item in enumerate(todo)}
    rows = [by_item[id(item)] if id(item) in by_item else earlier[item_key(item)] for item in items]
    return writer.summarise(rows, extra_rows, started, make_zip=make_zip, report_name=report_name)


def import_ray() -> ModuleType:
    """Ray and Ray Data, or a typed error that says how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra's part this engine needs
    except ImportError as error:
        raise InvalidOptionError(
            "The Ray engine needs Ray, which is not installed here.",
            hint=f"Install it with: pip install -r {RAY_REQUIREMENTS} (or leave out --engine ray).") from error
    return ray


@contextmanager
def ray_session(ray: ModuleType, address: str | None) -> Iterator[None]:
    """Ray for this run: a local one started here (and stopped at the end), or the cluster at
    ``address``. The driver's Portrait Lab settings go to every actor (the weights folder and
    manifest among them), so on a cluster the paths they name must exist on every node."""
    env = {name: os.environ[name] for name in (setting.name for setting in settings.SETTINGS)
           if name in os.environ and name not in settings.SECRETS}  # a secret stays on the driver
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"num_cpus": os.cpu_count() or 1, "include_dashboard": False} if not address else {}
        try:
            ray.init(address=address or "local", log_to_driver=False, logging_level=logging.ERROR,
                     runtime_env={"env_vars": env}, **options)
        except ConnectionError as error:
            raise InvalidOptionError(
                "No running Ray cluster was found" + ("." if address == "auto" else f" at {address}."),
                hint="Start one with `ray start --head` (and `ray start --address=HEAD:6379` on each worker), "
                     "or leave out --address to run on a Ray started for this run.") from error
    quiet_ray(ray)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def quiet_ray(ray: ModuleType) -> None:
    """The command's own bar and lines stay readable: no Ray Data progress bars or plan, and
    its log only for what stops a run (a lost photo is said in its row instead)."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.max_errored_blocks = -1  # a photo lost with its worker is that row's failure, not the batch's end
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


def photo_dataset(ray: ModuleType, todo: Sequence[BatchItem], job: BatchJob, *, device: str | None,
                  precision: str | None, workers: int | None, lang: str = DEFAULT_LANGUAGE) -> Dataset:
    """The todo photos as rows {index, name, path}, mapped by a pool of :class:`PhotoWorker`
    actors: one GPU each where the cluster has GPUs (and the device is not cpu), else one CPU."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if (device or os.environ.get(settings.DEVICE) or "auto") != "cpu" else 0
    slots = max(1, gpus or int(resources.get("CPU", 1)))
    size = min(workers or slots, len(todo))
    rows = [{"index": index, "name": item.name, "path": str(item.path)} for index, item in enumerate(todo)]
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
    per_actor = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    photos_per_call = GPU_PHOTOS_PER_CALL if gpus else 1
    with warnings.catch_warnings():  # max_task_retries has no named parameter in Ray 2.60
        warnings.simplefilter("ignore", DeprecationWarning)
        return dataset.map_batches(
            PhotoWorker, batch_size=photos_per_call, udf_modifying_row_count=False,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size, initial_size=min(size, slots),
                                               max_tasks_in_flight_per_actor=1),
            fn_constructor_kwargs={"job": job, "device": device, "precision": precision, "lang": lang},
            max_task_retries=TASK_RETRIES, **per_actor)


class PhotoWorker:
    """One Ray actor: the job's models loaded once, then each photo made into its row (as a
    ledger record) and its encoded file. It writes nothing; a photo's failure, bug or not,
    is its row's. A job that cannot start (missing weights) is sent back as that typed error,
    so the driver stops with the sentence the local engine gives."""

    def __init__(self, job: BatchJob, device: str | None, precision: str | None,
                 lang: str = DEFAULT_LANGUAGE) -> None:
        from pipeline.batch.pipelines import LocalPipelines
        from pipeline.models.device import choose_compute

        self.fatal = ""
        self.lang = lang
        self.process = None
        try:
            self.process = job.process(LocalPipelines(choose_compute(device, precision)))
        except PortraitLabError as error:
            self.fatal = json.dumps({"kind": type(error).__name__, "message": error.message, "hint": error.hint})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        columns: dict[str, list[Any]] = {"index": [], "record": [], "data": [], "suffix": [], "fatal": []}
        items = [BatchItem(str(name), Path(str(path))) for name, path in zip(batch["name"], batch["path"])]
        rows = [BatchRow(item.name, STATUS_ERROR) for item in items]
        with ThreadPoolExecutor(max(1, len(items)), thread_name_prefix="ray-photo") as pool:  # faces meet in one call
            outputs = list(pool.map(self._photo, items, rows))
        for index, row, output in zip(batch["index"], rows, outputs):
            for key, value in (("index", int(index)), ("record", json.dumps(row_record(row))),
                               ("data", output.data if output else b""), ("suffix", output.suffix if output else ""),
                               ("fatal", self.fatal)):
                columns[key].append(value)
        return {key: np.array(values, dtype=np.int64 if key == "index" else object) for key, values in columns.items()}

    def _photo(self, item: BatchItem, row: BatchRow) -> JobOutput | None:
        if self.process is None:
            return None
        if not item.path.is_file():  # the driver's path is not on this node's storage
            row.message = render(UNREADABLE_MESSAGE, self.lang)
            return None
        return process_item(item, row, self.process, self.lang)


def collect(results: Iterator[dict[str, Any]], todo: Sequence[BatchItem], writer: BatchWriter,
            fresh: dict[int, BatchRow]) -> None:
    """Each result as it streams in: its row into ``fresh``, its file published and the ledger
    told (a write failure other than a full disk is that row's). A result seen twice (Ray
    retried a photo whose first answer had arrived) is written once."""
    for result in results:
        if result["fatal"]:
            raise _typed_error(json.loads(result["fatal"]))
        index = int(result["index"])
        if index in fresh:
            continue
        item, row = todo[index], row_from_record(json.loads(result["record"]))
        fresh[index] = row
        data = bytes(result["data"])
        output = JobOutput(data=data, suffix=str(result["suffix"]), preview=NO_PREVIEW) if data else None
        outcome = run_item(lambda entry: writer.write(entry, row, output) if output else None, item, index,
                           stop_on=(OutputWriteError,))
        fill_failure(row, outcome, writer.lang)
        writer.ended(item, row, written=output is not None and not outcome.failed)


def _typed_error(fields: dict[str, Any]) -> PortraitLabError:
    """The error an actor could not start with, as the same typed error on the driver."""
    kind = getattr(errors, str(fields.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, PortraitLabError)):
        kind = InvalidOptionError
    return kind(str(fields.get("message")), hint=fields.get("hint"))
