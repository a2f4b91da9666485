"""``weights list``: what a user reads before deciding to fetch a model."""
from __future__ import annotations

from pipeline.models.listing import format_status_table
from pipeline.models.manifest import load_manifest
from pipeline.models.weight_status import check_all


def _rows(tmp_path) -> dict[str, str]:
    table = format_status_table(check_all(load_manifest(), tmp_path))
    return {line.split()[0]: line for line in table.splitlines()[1:]}


def test_a_missing_model_without_a_published_hash_is_listed_as_unverified(tmp_path):
    rows = _rows(tmp_path)
    manifest = load_manifest()
    hashless = [e.name for e in manifest.entries if e.sha256 is None and not e.is_bundled]
    assert {"realesrgan-x2", "realesr-general-x4"} <= set(hashless)
    for name in hashless:
        assert "missing" in rows[name] and "unverified when fetched" in rows[name], rows[name]


def test_a_missing_model_with_a_hash_is_not_called_unverified(tmp_path):
    rows = _rows(tmp_path)
    assert "not downloaded" in rows["gfpgan-v1.4"]
    assert "unverified" not in rows["gfpgan-v1.4"]
    assert "unverified" not in rows["mtcnn"]  # bundled in a package: nothing to fetch
