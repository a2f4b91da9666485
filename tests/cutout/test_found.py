"""Issue 19: a photo's automatic analysis, kept for hand fixes, reads back exactly as it was
written (faces, the ID photo's evidence, the matte, its notes in any language), is used only
for a photo like the one it was made of, and a file that is not one is refused."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.core.errors import InvalidOptionError
from pipeline.core.notes import ServerNote
from pipeline.cutout.found import FoundPerson
from pipeline.cutout.matting import MatteResult
from pipeline.faces.analysis import FaceAnalysis
from pipeline.i18n import Message
from pipeline.models.store import ModelStore
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline
from pipeline.idphoto.specs import load_specs


@pytest.fixture(scope="module")
def id_found(astronaut_rgb, tmp_path_factory, cpu_compute) -> FoundPerson:
    faces = FaceAnalysis(ModelStore(directory=tmp_path_factory.mktemp("found-weights"), compute=cpu_compute))
    result = IdPhotoPipeline(faces).make(astronaut_rgb, IdPhotoOptions(spec=load_specs().get("icao_generic")))
    assert result.found is not None
    return result.found


def test_an_id_photo_analysis_reads_back_as_it_was(id_found, tmp_path):
    noted = replace(id_found, notes=(ServerNote("warning.faces.offline_detector"), "a plain note"),
                    matte=replace(id_found.matte, warnings=(Message("warning.cutout.no_face", {"n": Message("ui.editor.title")}),)))
    back = FoundPerson.load(noted.save(tmp_path / "found.npz"))
    assert back.shape == (512, 512) and back.chosen == noted.chosen and back.detector == noted.detector
    assert np.array_equal(back.matte.alpha, noted.matte.alpha) and back.matte.method == noted.matte.method
    assert back.notes == noted.notes and isinstance(back.notes[0], ServerNote)
    assert back.matte.warnings == noted.matte.warnings
    assert [face.box for face in back.faces] == [face.box for face in noted.faces]
    assert all(np.array_equal(a.landmarks, b.landmarks) for a, b in zip(back.faces, noted.faces))
    evidence, kept = back.evidence, noted.evidence
    assert evidence is not None and kept is not None and evidence.face.box == kept.face.box
    assert np.array_equal(evidence.dense.points, kept.dense.points)
    assert (evidence.parsing is None) == (kept.parsing is None)


def test_an_analysis_fits_only_a_photo_like_its_own(id_found):
    assert id_found.fits((512, 512, 3), id_found.chosen, needs_evidence=True)
    assert not id_found.fits((512, 513, 3), id_found.chosen)
    assert not id_found.fits((512, 512, 3), ("retinaface-r50", id_found.chosen[1]))
    background_only = replace(id_found, evidence=None)
    assert background_only.fits((512, 512), id_found.chosen) and not background_only.fits(
        (512, 512), id_found.chosen, needs_evidence=True)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", None])
def test_a_file_that_is_not_a_kept_analysis_is_refused(tmp_path, content):
    path = tmp_path / "found.npz"
    if content is None:  # an npz with a pickled object in it: never read
        np.savez(path, meta=np.array([{"version": 1}], dtype=object))
    else:
        path.write_bytes(content)
    with pytest.raises(InvalidOptionError):
        FoundPerson.load(path)


def test_a_background_analysis_without_faces_reads_back(tmp_path):
    found = FoundPerson(shape=(4, 6), faces=(), detector="mtcnn",
                        matte=MatteResult(alpha=np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6), method="selfie"))
    back = FoundPerson.load(found.save(tmp_path / "found.npz"))
    assert back.faces == () and back.evidence is None and np.array_equal(back.matte.alpha, found.matte.alpha)
