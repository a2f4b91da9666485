"""Issue 15, item 2: a manual nudge of head size and position, within the document's ranges.

The geometry for several documents and face proportions: every nudge from -1 to 1 on both
axes keeps the head size, the eye line, the crown margin and the whole head inside the
document's ranges, and each axis moves the way it says. Then on the astronaut: the delivered
photo, measured again, shows a larger head for +1 than for -1 and a lower one for +1.
"""
from __future__ import annotations

import itertools

import pytest

from pipeline.core.errors import InvalidOptionError
from pipeline.faces.analysis import FaceAnalysis
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline, choose_placement
from pipeline.idphoto.nudge import PlacementNudge
from pipeline.idphoto.specs import IdPhotoSpec, load_specs
from pipeline.models.store import ModelStore

SPECS = load_specs()
SPEC_IDS = ["us_passport", "cn_visa", "jp_passport", "uk_passport_print", "icao_generic", "ca_passport", "in_evisa"]
STEPS = [-1.0, -0.5, 0.0, 0.5, 1.0]
EYE_OFFSETS = [0.42, 0.47, 0.52]  # eyes below the crown, share of the head's height: the portraits span 0.44-0.50
EPS = 1e-9


def inside(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] - EPS <= value <= bounds[1] + EPS


@pytest.mark.parametrize("spec_id", SPEC_IDS)
@pytest.mark.parametrize("eye_offset", EYE_OFFSETS)
def test_every_nudge_stays_inside_the_documents_ranges(spec_id, eye_offset):
    spec = SPECS.get(spec_id)
    auto = choose_placement(spec, eye_offset)
    assert auto[2], "these documents all allow these faces"
    assert choose_placement(spec, eye_offset, PlacementNudge()) == auto
    for head_size, vertical in itertools.product(STEPS, STEPS):
        head, crown, met = choose_placement(spec, eye_offset, PlacementNudge(head_size, vertical))
        eye_from_bottom = 1 - (crown + eye_offset * head)
        where = f"{spec_id} nudge ({head_size}, {vertical}): head {head:.4f}, crown {crown:.4f}"
        assert met, where
        assert inside(head, spec.head_ratio_range()), where
        assert inside(eye_from_bottom, spec.eye_ratio_range()), where
        margin = spec.crown_margin_ratio_range()
        assert margin is None or inside(crown, margin), where
        assert crown >= -EPS and crown + head <= 1 + EPS, where


@pytest.mark.parametrize("spec_id", SPEC_IDS)
def test_each_axis_moves_the_way_it_says(spec_id):
    """Head size: -1 < -0.5 <= 0 <= 0.5 < 1, strictly between the ends. Position (crown from
    the top): -1 is the highest, +1 the lowest."""
    spec = SPECS.get(spec_id)
    heads = [choose_placement(spec, 0.47, PlacementNudge(head_size=step))[0] for step in STEPS]
    assert heads == sorted(heads) and heads[-1] > heads[0] + 0.01, heads
    crowns = [choose_placement(spec, 0.47, PlacementNudge(vertical=step))[1] for step in STEPS]
    assert crowns == sorted(crowns) and crowns[-1] > crowns[0], crowns


def test_a_face_no_placement_fits_ignores_the_nudge():
    spec = IdPhotoSpec(id="t", country="T", document="t", width_mm=35, height_mm=45, dpi=300,
                       head_height_mm=(40, 44), eye_line_mm=(35, 40), source="test")
    assert choose_placement(spec, 0.47)[2] is False
    assert choose_placement(spec, 0.47, PlacementNudge(1, 1)) == choose_placement(spec, 0.47)


@pytest.mark.parametrize("nudge, words", [
    (PlacementNudge(head_size=1.2), "head size nudge must be a number from -1 to 1"),
    (PlacementNudge(vertical=float("inf")), "head position nudge must be a number from -1 to 1"),
    (PlacementNudge(vertical="up"), "head position nudge"),  # type: ignore[arg-type]
])
def test_impossible_nudges_are_refused_in_a_sentence(nudge, words):
    with pytest.raises(InvalidOptionError, match=words):
        IdPhotoOptions(spec=SPECS.get("us_passport"), nudge=nudge).validated()


# --- the delivered photo, measured again ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maker(cpu_compute) -> IdPhotoPipeline:
    return IdPhotoPipeline(FaceAnalysis(ModelStore(compute=cpu_compute)))


@pytest.mark.parametrize("spec_id", ["us_passport", "cn_visa"])
def test_the_delivered_head_follows_the_nudge(maker, astronaut_rgb, spec_id):
    spec = SPECS.get(spec_id)

    def measured(**nudge: float) -> tuple[float, float]:
        report = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec, nudge=PlacementNudge(**nudge))).report
        assert report.check("head_height").status != "fail" and report.check("eye_line").status != "fail"
        return report.check("head_height").value, report.check("eye_line").value

    small, large = measured(head_size=-1)[0], measured(head_size=1)[0]
    low_range, high_range = spec.head_ratio_range()
    assert large > small + 0.5 * (high_range - low_range) * 0.85, (small, large)
    high, low = measured(vertical=-1)[1], measured(vertical=1)[1]  # eye line from the bottom
    assert high > low, (high, low)
