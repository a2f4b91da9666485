"""`python -m pipeline batch`: inputs of every kind, the same report as the Batch tab, resuming
(finished inputs skipped, --retry-failed), shards that split one input without overlap, and a
Ctrl-C that loses nothing. Most runs use the background job on small photos: the batch
machinery is the subject, and matting is its cheapest job."""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline.batch import sources
from pipeline.batch.ledger import ledger_name
from pipeline.cli import run as cli_run
from pipeline.cutout.background import BackgroundOptions

SIDE = 160


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut_rgb) -> Path:
    """Three small portraits (astronaut crops) and one broken file in a folder."""
    folder = tmp_path_factory.mktemp("batch-in")
    for index in range(3):
        crop = astronaut_rgb[index * 8:300 + index * 8, 100 + index * 8:400 + index * 8]
        Image.fromarray(np.ascontiguousarray(crop)).resize((SIDE, SIDE)).save(folder / f"p{index}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def _batch(*args: str) -> int:
    return cli.main(["batch", "background", *args, "--mode", "colour", "--device", "cpu", "--workers", "1"])


def _ledger_lines(out: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(out.glob("batch-ledger*.jsonl"))
            for line in path.read_text().splitlines()]


def _filled(row: dict[str, str]) -> str:
    return str({key: value for key, value in row.items() if value})


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:  # report.csv starts with a BOM
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def test_inputs_come_from_folders_patterns_archives_and_list_files(tmp_path, photos):
    other = tmp_path / "other"
    other.mkdir()
    (other / "p0.png").write_bytes((photos / "p0.png").read_bytes())  # same file name, another folder
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(photos / "p1.png", "inner/p1.png")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# the team's list\nother\n\n{archive.name}\nnot-there.png\n")

    items, rows = sources.gather_items([str(photos / "p2.png"), str(photos / "p[01].png"), str(tmp_path / "*.none")],
                                       tmp_path / "unpacked", list_file=listing)

    names = [item.name for item in items]
    assert names == [str(photos / "p2.png"), str(photos / "p0.png"), str(photos / "p1.png"),
                     str(other / "p0.png"), f"{archive}/inner/p1.png"]
    assert len({item.stem for item in items}) < len(names)  # same stems: names, not stems, tell them apart
    problems = {row.name: row.message for row in rows}
    assert problems[str(tmp_path / "*.none")] == "no file matches this pattern"
    assert problems[str(tmp_path / "not-there.png")].startswith("File not found") or "no such file" in \
        problems[str(tmp_path / "not-there.png")]


def test_shards_split_any_input_without_overlap_and_by_name_alone():
    names = [f"scans/{index:05d}.jpg" for index in range(2000)]
    shares = [[name for name in names if sources.in_shard(name, (i, 4))] for i in range(1, 5)]
    assert sorted(sum(shares, [])) == names  # every name in exactly one shard
    assert all(400 < len(share) < 600 for share in shares)  # and evenly
    reversed_shares = [[name for name in reversed(names) if sources.in_shard(name, (i, 4))] for i in range(1, 5)]
    assert [sorted(share) for share in reversed_shares] == shares  # the order of the input does not matter
    assert sources.parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(Exception, match="shard"):
            sources.parse_shard(bad)


def test_a_batch_writes_the_report_and_a_rerun_skips_what_is_finished(tmp_path, photos, capsys):
    out = tmp_path / "out"
    assert _batch(str(photos), "-o", str(out)) == cli_run.EXIT_SOME_FAILED  # the broken file failed
    first = capsys.readouterr()
    assert "broken.jpg" in first.err and "1 failed" in first.out
    results = sorted(path.name for path in (out / "results").iterdir())
    assert results == ["p0_background.png", "p1_background.png", "p2_background.png"]
    assert (out / "report.html").is_file() and not (out / "results.zip").exists()
    rows = _csv_rows(out / "report.csv")
    assert sorted(row["status"] for row in rows) == ["error", "ok", "ok", "ok"]
    assert len(_ledger_lines(out)) == 4

    assert _batch(str(photos), "-o", str(out), "--zip") == cli_run.EXIT_SOME_FAILED
    again = capsys.readouterr()
    assert "4 of 4 photo(s) were done before" in again.err
    assert len(_ledger_lines(out)) == 4  # nothing ran again
    assert sorted(path.name for path in (out / "results").iterdir()) == results  # no second copies
    assert _csv_rows(out / "report.csv") == rows  # the report still lists every input
    with zipfile.ZipFile(out / "results.zip") as archive:
        assert {f"results/{name}" for name in results} <= set(archive.namelist())

    assert _batch(str(photos), "-o", str(out), "--retry-failed") == cli_run.EXIT_SOME_FAILED
    retried = _ledger_lines(out)[4:]
    assert [line["row"]["name"] for line in retried] == [str(photos / "broken.jpg")]  # only the failure ran


def test_a_resumed_run_reads_each_input_once(tmp_path, photos, monkeypatch, capsys):
    """The plan (which inputs are left) is made once, and each input's size read once: on a
    million-file folder every repeated ``stat`` is a million system calls."""
    from pipeline.batch.ledger import BatchLedger

    out = tmp_path / "out"
    _batch(str(photos / "p0.png"), "-o", str(out))
    plans, sizes = [], []
    to_run = BatchLedger.to_run
    monkeypatch.setattr(BatchLedger, "to_run", lambda self, items: plans.append(1) or to_run(self, items))
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: sizes.append(self.name) or real_stat(self, **kw))
    capsys.readouterr()
    assert _batch(str(photos / "p0.png"), str(photos / "p1.png"), "-o", str(out)) == cli_run.EXIT_OK
    assert "1 of 2 photo(s) were done before" in capsys.readouterr().err
    assert len(plans) == 1
    assert sizes.count("p1.png") <= 3  # two while listing the inputs, one for the ledger's key


def test_another_job_in_the_same_folder_is_refused_before_any_work(tmp_path, photos, capsys):
    out = tmp_path / "out"
    _batch(str(photos / "p0.png"), "-o", str(out))
    capsys.readouterr()
    code = cli.main(["batch", "background", str(photos / "p1.png"), "-o", str(out), "--mode", "blur",
                     "--device", "cpu"])
    assert code == cli_run.EXIT_USAGE
    assert "different batch job or options" in capsys.readouterr().err
    assert len(_ledger_lines(out)) == 1


def test_shards_share_one_folder_and_a_plain_run_merges_their_reports(tmp_path, photos, capsys):
    out = tmp_path / "out"
    for shard in ("1/2", "2/2"):
        _batch(str(photos), "-o", str(out), "--shard", shard)
    capsys.readouterr()
    # the split hangs on each photo's name, here its temporary path: a shard may get none
    names = [str(path) for path in photos.iterdir()]
    used = [shard for shard in ((1, 2), (2, 2)) if any(sources.in_shard(name, shard) for name in names)]
    assert sorted(path.name for path in out.glob("batch-ledger*")) == [ledger_name(shard) for shard in used]
    shard_rows = _csv_rows(out / "report.shard-1-of-2.csv") + _csv_rows(out / "report.shard-2-of-2.csv")
    assert len(shard_rows) == 4

    assert _batch(str(photos), "-o", str(out)) == cli_run.EXIT_SOME_FAILED
    assert "4 of 4 photo(s) were done before" in capsys.readouterr().err
    merged = _csv_rows(out / "report.csv")
    # A shard whose photos all failed has no columns for results' details: compare what is filled.
    assert sorted(map(_filled, merged)) == sorted(map(_filled, shard_rows))
    assert len(list((out / "results").iterdir())) == 3


def test_ctrl_c_keeps_what_finished_and_the_next_run_does_the_rest(tmp_path, photos, monkeypatch, capsys):
    from pipeline.batch import jobs

    real = jobs.BatchJob.process
    calls = []

    def interrupting(self, pipelines):
        process = real(self, pipelines)

        def wrapped(image):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return process(image)
        return wrapped

    monkeypatch.setattr(jobs.BatchJob, "process", interrupting)
    out = tmp_path / "out"
    assert _batch(str(photos / "p0.png"), str(photos / "p1.png"), str(photos / "p2.png"), "-o", str(out)) \
        == cli_run.EXIT_INTERRUPTED
    assert "1 photo(s) are done" in capsys.readouterr().err
    assert len(_ledger_lines(out)) == 1 and len(list((out / "results").iterdir())) == 1

    monkeypatch.setattr(jobs.BatchJob, "process", real)
    assert _batch(str(photos / "p0.png"), str(photos / "p1.png"), str(photos / "p2.png"), "-o", str(out)) \
        == cli_run.EXIT_OK
    assert len(_ledger_lines(out)) == 3
    assert sorted(path.name for path in (out / "results").iterdir()) == [
        "p0_background.png", "p1_background.png", "p2_background.png"]


def test_the_command_and_the_batch_tab_make_the_same_report(tmp_path, photos, capsys):
    """One code path: the studio's batch (the web tab) and the command give the same rows."""
    from pipeline.restore.engine import RestorationPipeline
    from webapp.studio import Studio

    files = [photos / "p0.png", photos / "broken.jpg"]
    out = tmp_path / "cli"
    _batch(*map(str, files), "-o", str(out), "--colour", "light-blue")
    capsys.readouterr()
    summary = Studio(RestorationPipeline()).batch(files, "background", tmp_path / "tab",
                                                  background=BackgroundOptions(mode="colour", colour="light-blue"))

    tab_rows = _csv_rows(summary.csv_path)
    cli_rows = _csv_rows(out / "report.csv")
    for row in cli_rows:
        row["name"] = Path(row["name"]).name  # the command names a file by its path, the tab by its name
    assert cli_rows == tab_rows
    assert np.array_equal(np.asarray(Image.open(out / "results" / "p0_background.png")),
                          np.asarray(Image.open(tmp_path / "tab" / "results" / "p0_background.png")))


def test_a_line_torn_by_a_crash_only_makes_its_photo_run_again(tmp_path, photos):
    from pipeline.batch.inputs import BatchItem
    from pipeline.batch.ledger import BatchLedger
    from pipeline.batch.report import BatchRow

    items = [BatchItem(f"p{i}.png", photos / f"p{i}.png") for i in range(3)]
    ledger = BatchLedger.open(tmp_path, "job-a")
    for item in items[:2]:
        ledger.record(item, BatchRow(item.name, "error", message="failed", before_thumbnail=b"\xff\xd8"))
    ledger.close()
    path = tmp_path / ledger_name()
    path.write_text(path.read_text()[:-40])  # the second line cut short, as a power cut would

    reopened = BatchLedger.open(tmp_path, "job-a")
    todo, earlier = reopened.to_run(items)
    assert [item.name for item in todo] == ["p1.png", "p2.png"] and reopened.torn_lines == 1
    assert list(earlier.values())[0].before_thumbnail == b"\xff\xd8"  # the thumbnail survives the round trip

    reopened.record(items[2], BatchRow("p2.png", "error", message="failed"))  # appended after the torn line
    reopened.close()
    assert [item.name for item in BatchLedger.open(tmp_path, "job-a").to_run(items)[0]] == ["p1.png"]


def test_a_planted_ledger_line_cannot_put_another_file_into_the_report_or_the_zip(tmp_path, photos, capsys):
    from pipeline.batch.inputs import BatchItem
    from pipeline.batch.ledger import item_key

    out = tmp_path / "out"
    _batch(str(photos / "p0.png"), "-o", str(out))
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    [line] = _ledger_lines(out)
    item = BatchItem(str(photos / "p1.png"), photos / "p1.png")
    for output in ("../../secret.txt", str(secret), "results/../../secret.txt"):
        planted = {**line, "key": item_key(item), "row": {**line["row"], "name": item.name, "output": output}}
        with (out / ledger_name()).open("a") as handle:
            handle.write(json.dumps(planted) + "\n")

    assert _batch(str(photos / "p0.png"), str(photos / "p1.png"), "-o", str(out), "--zip") == cli_run.EXIT_OK
    capsys.readouterr()
    with zipfile.ZipFile(out / "results.zip") as archive:
        assert not any("secret" in name for name in archive.namelist())
        assert all(b"not yours" not in archive.read(name) for name in archive.namelist())
    assert sorted(path.name for path in (out / "results").iterdir()) == ["p0_background.png", "p1_background.png"]


def test_a_deleted_result_runs_again_and_a_linked_results_folder_is_refused(tmp_path, photos, capsys):
    out = tmp_path / "out"
    _batch(str(photos / "p0.png"), "-o", str(out))
    (out / "results" / "p0_background.png").unlink()
    assert _batch(str(photos / "p0.png"), "-o", str(out), "--zip") == cli_run.EXIT_OK  # made again, not a crash
    assert (out / "results" / "p0_background.png").is_file() and len(_ledger_lines(out)) == 2

    elsewhere = tmp_path / "elsewhere"
    (out / "results").rename(elsewhere)
    (out / "results").symlink_to(elsewhere)
    capsys.readouterr()
    assert _batch(str(photos / "p1.png"), "-o", str(out)) == cli_run.EXIT_USAGE
    assert "is a link to another folder" in capsys.readouterr().err
    assert sorted(path.name for path in elsewhere.iterdir()) == ["p0_background.png"]


def test_ledger_lines_with_impossible_values_are_not_trusted(tmp_path, photos):
    import os

    from pipeline.batch.inputs import BatchItem
    from pipeline.batch.ledger import BatchLedger, item_key

    item = BatchItem("p0.png", photos / "p0.png")
    row = {"name": "p0.png", "status": "ok", "message": "", "output": "", "metrics": {}, "server_notes": []}
    lines = [{**row, "seconds": "soon"}, {**row, "status": "pwned"}, {**row, "server_notes": [["x"]]},
             {**row, "metrics": {"m": {"nested": 1}}}]
    (tmp_path / ledger_name()).write_text("".join(json.dumps({"key": item_key(item), "job": "j", "row": line}) + "\n"
                                                  for line in lines))
    ledger = BatchLedger.open(tmp_path, "j")
    assert ledger.finished == {} and ledger.torn_lines == 4
    os.mkfifo(tmp_path / ledger_name((1, 2)))  # reading a pipe would wait for ever
    with pytest.raises(Exception, match="not a plain file"):
        BatchLedger.open(tmp_path, "j")


def test_a_visitors_batch_keeps_few_photos_in_flight_even_on_a_gpu(tmp_path, photos, monkeypatch):
    import pipeline.batch as batch_package
    from pipeline.models.accelerate import SpeedSettings
    from pipeline.restore.engine import RestorationPipeline
    from webapp import studio as studio_module

    seen = {}

    def fake_run_batch(items, process, out_dir, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(batch_package, "run_batch", fake_run_batch)
    studio = studio_module.Studio(RestorationPipeline(speed=SpeedSettings(micro_batch=True, max_batch=32)))
    monkeypatch.setattr(studio, "_batch_process", lambda *args: (lambda image: None))
    with pytest.raises(RuntimeError, match="stop here"):
        studio.batch([photos / "p0.png"], "restore", tmp_path / "tab")
    assert seen["workers"] == studio_module.WEB_BATCH_WORKERS < 32
