"""The Space's first visitor, simulated end to end (scripts/simulate_space.py): ``python app.py``
with ``SPACE_ID`` set, an empty weights folder and a mirror on 127.0.0.1 serving random-weight
files. The fresh-venv half of the proof (scripts/space_build_check.sh) takes about 4 minutes
and 6.5 GB, so CI runs this half in the project's venv; the closing notes record both."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PORTRAIT_LAB_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def simulate_space(random_weights):
    if importlib.util.find_spec("playwright") is None or not CHROMIUM.exists():
        pytest.skip(f"needs Playwright and Chromium at {CHROMIUM} (apt-get install chromium) to watch the page")
    spec = importlib.util.spec_from_file_location("simulate_space", REPO / "scripts" / "simulate_space.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    saved, manifest = random_weights

    def already_saved(_manifest, folder: Path, names: list[str]):  # noqa: ANN202 - save_random_weights's
        """The mirror's files are the run's random weights (made once for the whole suite), linked
        in: the same architectures and layout, described by their own manifest."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            file = str(manifest.get(name).file)
            try:
                os.link(saved / file, folder / file)
            except OSError:  # another file system
                shutil.copy2(saved / file, folder / file)
        return manifest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "save_random_weights", already_saved)
        yield module


def test_a_fresh_space_serves_at_once_then_switches_features_on_with_no_pip(simulate_space, tmp_path):
    found = simulate_space.simulate(sys.executable, megabytes_per_s=60.0, work=tmp_path)
    print(found)
    assert found.http_200_s is not None
    assert "GFPGANv1.4.pth" in found.missing_at_200  # the page was up before the restorer arrived
    assert any("downloading" in text for text in found.banner_texts), found.banner_texts
    assert all("/" not in text.replace("GFPGAN v1.4", "") for text in found.banner_texts)  # no paths or URLs
    assert found.restore_enabled_s is not None and found.restore_enabled_s > found.http_200_s
    assert "Restored 1 of 1 face(s);" in found.restored
    # ArcFace arrived with the other defaults: random weights score the restored face, and the
    # summary leads with the warning that it no longer looks like the person
    assert found.restored.startswith("⚠ 1 face(s) may no longer look like the same person")
    # Random RetinaFace and MODNet find no face: the refusal proves the downloaded models answered.
    assert found.id_photo.startswith("refused:") or "px" in found.id_photo
    assert found.pip_processes == []
