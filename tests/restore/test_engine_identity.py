"""Identity inside restoration (issue 16, items 2, 3 and 5's engine side): each restored face
carries its ArcFace identity score; the guard lowers one face's strength until the person is
recognisable again; the faces are kept so a strength can change without the network."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.restore.engine import GUARD_UNAVAILABLE, RestorationPipeline, RestoreOptions
from pipeline.restore.facework import FaceWork
from pipeline.restore.identity_bands import IDENTITY_THRESHOLD

OPTIONS = dict(detector="mtcnn", model="gfpgan-v1.4")


@pytest.fixture(scope="module")
def runs(random_pipeline, astronaut_rgb):
    """The astronaut restored by random-weight GFPGAN (identity collapses), with and without the guard."""
    plain = random_pipeline.restore(astronaut_rgb, RestoreOptions(**OPTIONS))
    guarded = random_pipeline.restore(astronaut_rgb, RestoreOptions(identity_guard=True, **OPTIONS))
    return plain, guarded


def test_each_restored_face_has_its_identity_score(runs):
    plain, _ = runs
    face = plain.faces[0]
    assert face.restored and face.identity is not None and not face.identity.acted
    assert -1.0 <= face.identity.score_used <= 1.0 and face.identity.used == 1.0
    report = face.to_dict()
    assert report["identity_score"] == round(face.identity.score_used, 4) and report["strength"] == 1.0
    assert "identity_guard" not in report
    assert face.identity.score_used < IDENTITY_THRESHOLD  # random weights: the person is gone


def test_the_guard_lowers_the_strength_until_the_person_is_recognisable(runs):
    plain, guarded = runs
    identity = guarded.faces[0].identity
    assert identity is not None and identity.acted
    assert 0.0 < identity.used < identity.asked == 1.0
    assert identity.score_used >= IDENTITY_THRESHOLD > identity.score_asked
    assert identity.score_asked == pytest.approx(plain.faces[0].identity.score_used, abs=1e-4)
    assert guarded.faces[0].to_dict()["identity_guard"]["used_strength"] == identity.used
    # the guarded photo is the plain one's faces pasted at the lower strength
    assert np.array_equal(guarded.image, plain.work.paste([identity.used]))
    assert not np.array_equal(guarded.image, plain.image)


def test_a_strength_changes_without_the_network(runs, random_pipeline, tmp_path):
    plain, _ = runs
    work = plain.work
    assert isinstance(work, FaceWork) and len(work.aligned) == 1
    assert np.array_equal(random_pipeline.paste(work, 1.0), plain.image)
    assert np.array_equal(random_pipeline.paste(work, [0.0]), work.background)
    loaded = FaceWork.load(work.save(tmp_path / "faces.npz"))
    assert np.array_equal(random_pipeline.paste(loaded, [0.5]), random_pipeline.paste(work, [0.5]))
    scores = random_pipeline.identity_scores(loaded, [0.0])
    assert scores == [pytest.approx(1.0, abs=1e-6)]  # strength 0: the original face itself


def test_a_damaged_face_file_is_a_plain_sentence(runs, tmp_path):
    from pipeline.core.errors import InvalidOptionError

    whole = runs[0].work.save(tmp_path / "whole.npz").read_bytes()
    for index, damaged in enumerate([b"not an npz", whole[:len(whole) // 2], whole[:200]]):
        broken = tmp_path / f"faces-{index}.npz"
        broken.write_bytes(damaged)
        with pytest.raises(InvalidOptionError, match="no longer available"):
            FaceWork.load(broken)


def test_without_the_identity_model_the_guard_says_it_could_not_run(random_weights, cpu_compute, astronaut_rgb,
                                                                     tmp_path):
    import shutil

    directory, manifest = random_weights
    for name in ("gfpgan-v1.4",):
        shutil.copy(directory / manifest.get(name).file, tmp_path / manifest.get(name).file)
    engine = RestorationPipeline(manifest=manifest, weights_directory=tmp_path, compute=cpu_compute)
    result = engine.restore(astronaut_rgb, RestoreOptions(identity_guard=True, **OPTIONS))
    assert GUARD_UNAVAILABLE in result.warnings
    assert result.faces[0].restored and result.faces[0].identity is None
    assert "identity_score" not in result.faces[0].to_dict()
