"""PatchCore inspection on generated products: defects found and located, clean photos pass,
banks stored, reused, and rebuilt when their photos, model or settings change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.backbones import Backbone, load_backbone
from search.errors import ImageDecodeError, InvalidReference
from search.inspect_config import InspectSettings
from search.inspection.coreset import greedy_coreset
from search.inspection.inspector import Inspector, Verdict
from search.inspection.references import Photo, Reference
from search.inspection.scoring import image_scores, prominence
from search.inspection.storage import META
from tests.search.inspection.synthetic import SCRATCH, SIZE, product_png

GOOD = 6


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    return load_backbone("efficientnet_lite0")


def inspector_in(root: Path, backbone: Backbone, **settings: Any) -> Inspector:
    return Inspector(backbone, InspectSettings(**settings), root, max_pixels=10**7)


def good_reference(count: int = GOOD) -> Reference:
    return Reference("dir:/good", [Photo(f"good-{i}", product_png(i)) for i in range(count)])


def test_planted_defects_are_suspect_and_clean_photos_ok(
    tmp_path: Path, backbone: Backbone
) -> None:
    inspector = inspector_in(tmp_path, backbone)
    ready = inspector.bank(good_reference())
    photos = [
        Photo("clean-1", product_png(100)),
        Photo("clean-2", product_png(101)),
        Photo("scratch", product_png(102, scratch=True)),
        Photo("blotch", product_png(103, blotch=True)),
    ]
    results = {result.name: result for result in inspector.inspect(ready, photos)}
    assert results["clean-1"].verdict is Verdict.OK
    assert results["clean-2"].verdict is Verdict.OK
    assert results["scratch"].verdict is Verdict.SUSPECT
    assert results["blotch"].verdict is Verdict.SUSPECT
    clean_worst = max(results["clean-1"].score, results["clean-2"].score)
    assert min(results["scratch"].score, results["blotch"].score) > 1.5 * clean_worst
    # The threshold lies above every good photo's held-out score.
    assert ready.bank.threshold > max(ready.bank.calibration.scores)


def test_a_new_background_is_not_a_defect_but_a_defect_on_it_is(
    tmp_path: Path, backbone: Backbone
) -> None:
    # The good photos are packshots on white; the inspected ones lie on a wooden table.
    photos = [
        Photo("table", product_png(101, table=True)),
        Photo("table-scratch", product_png(102, table=True, scratch=True)),
        Photo("table-blotch", product_png(103, table=True, blotch=True)),
    ]
    inspector = inspector_in(tmp_path / "context", backbone)
    results = {r.name: r for r in inspector.inspect(inspector.bank(good_reference()), photos)}
    assert results["table"].verdict is Verdict.OK
    assert results["table-scratch"].verdict is Verdict.SUSPECT
    assert results["table-blotch"].verdict is Verdict.SUSPECT
    # PatchCore's plain largest distance calls every photo on the table suspect.
    plain = inspector_in(tmp_path / "plain", backbone, context_cells=0)
    verdicts = [r.verdict for r in plain.inspect(plain.bank(good_reference()), photos)]
    assert verdicts == [Verdict.SUSPECT] * 3


@pytest.mark.parametrize("context_cells", [0, 3])
def test_a_missing_quarter_is_suspect(
    tmp_path: Path, backbone: Backbone, context_cells: int
) -> None:
    # Larger than the context window: its inside is compared with itself, its edges are not.
    inspector = inspector_in(tmp_path, backbone, context_cells=context_cells)
    ready = inspector.bank(good_reference())
    clean, missing = inspector.inspect(
        ready, [Photo("clean", product_png(100)), Photo("missing", product_png(104, missing=True))]
    )
    assert (clean.verdict, missing.verdict) == (Verdict.OK, Verdict.SUSPECT)


def test_prominence_is_a_place_above_its_surroundings() -> None:
    flat = np.full((1, 7 * 7), 2.0, dtype=np.float32)
    assert np.allclose(prominence(flat, (7, 7), 2), 0)  # a raised background stands out nowhere
    spike = flat.copy()
    spike[0, 24] = 11.0  # the centre cell
    lifted = prominence(spike, (7, 7), 2)[0]
    assert lifted[24] == pytest.approx(11.0 / 9 + 2.0 * 8 / 9 - 2.0)  # its 3 x 3 mean less the ring
    hottest = {int(cell) for cell in np.flatnonzero(np.isclose(lifted, lifted.max()))}
    assert hottest == {16, 17, 18, 23, 24, 25, 30, 31, 32}  # the places holding the spike
    assert image_scores(spike, (7, 7), 0)[0] == pytest.approx(11.0)
    assert image_scores(spike, (7, 7), 2)[0] == pytest.approx(lifted[24])


def test_a_good_photo_itself_gets_its_held_out_score(tmp_path: Path, backbone: Backbone) -> None:
    inspector = inspector_in(tmp_path, backbone)
    reference = good_reference()
    ready = inspector.bank(reference)
    results = inspector.inspect(ready, reference.photos)
    held_out = dict(zip(ready.bank.references, ready.bank.calibration.scores, strict=True))
    assert [r.score for r in results] == [held_out[photo.digest] for photo in reference.photos]
    assert all(r.verdict is Verdict.OK for r in results)


def test_a_context_of_one_cell_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        InspectSettings(context_cells=1)


def test_the_heatmap_peaks_at_the_defect(tmp_path: Path, backbone: Backbone) -> None:
    inspector = inspector_in(tmp_path, backbone)
    ready = inspector.bank(good_reference())
    (result,) = inspector.inspect(ready, [Photo("scratch", product_png(7, scratch=True))])
    left, top, right, bottom = SCRATCH
    x, y = result.peak
    assert left - 6 <= x * SIZE <= right + 6 and top - 6 <= y * SIZE <= bottom + 6
    heat = result.heatmap
    assert heat.shape == (inspector.extractor.input_size,) * 2
    # Far from the scratch (a corner of white background) the map is much cooler.
    assert heat[:20, :20].max() < 0.5 * heat.max()


def test_a_bank_is_stored_and_reused(tmp_path: Path, backbone: Backbone) -> None:
    first = inspector_in(tmp_path, backbone).bank(good_reference())
    assert not first.reused
    again = inspector_in(tmp_path, backbone).bank(good_reference())  # a new process, say
    assert again.reused
    assert np.array_equal(again.bank.patches, first.bank.patches)
    assert again.bank.threshold == first.bank.threshold


def test_a_changed_reference_photo_rebuilds_the_bank(tmp_path: Path, backbone: Backbone) -> None:
    inspector = inspector_in(tmp_path, backbone)
    inspector.bank(good_reference())
    changed = good_reference()
    changed.photos[2] = Photo("good-2", product_png(42))
    assert not inspector.bank(changed).reused
    assert inspector.bank(changed).reused


def test_other_settings_or_a_damaged_bank_rebuild_it(tmp_path: Path, backbone: Backbone) -> None:
    inspector_in(tmp_path, backbone).bank(good_reference())
    assert not inspector_in(tmp_path, backbone, coreset_ratio=0.2).bank(good_reference()).reused
    inspector = inspector_in(tmp_path, backbone)
    assert not inspector.bank(good_reference()).reused  # back to the default recipe
    (folder,) = [path.parent for path in tmp_path.rglob(META)]
    (folder / "patches.npy").write_bytes(b"half-written")
    assert not inspector.bank(good_reference()).reused


def test_another_model_rebuilds_the_bank(tmp_path: Path, backbone: Backbone) -> None:
    inspector_in(tmp_path, backbone).bank(good_reference())
    other = load_backbone("efficientnet_lite0", pretrained=False)
    ready = inspector_in(tmp_path, other).bank(good_reference())
    assert not ready.reused and ready.bank.model == other.identity


def test_too_few_good_photos_are_refused(tmp_path: Path, backbone: Backbone) -> None:
    inspector = inspector_in(tmp_path, backbone)
    with pytest.raises(InvalidReference, match="2 readable good photo"):
        inspector.bank(good_reference(2))
    duplicated = Reference("dir:/dup", [Photo(f"copy-{i}", product_png(0)) for i in range(5)])
    with pytest.raises(InvalidReference, match="1 readable good photo"):
        inspector.bank(duplicated)


def test_an_undecodable_photo_is_named(tmp_path: Path, backbone: Backbone) -> None:
    inspector = inspector_in(tmp_path, backbone)
    ready = inspector.bank(good_reference())
    with pytest.raises(ImageDecodeError, match="broken.png"):
        inspector.inspect(ready, [Photo("broken.png", b"not an image")])
    bad = Reference("dir:/bad", [*good_reference().photos, Photo("x.png", b"\x89PNG\r\n\x1a\nxx")])
    with pytest.raises(InvalidReference, match="reference photo"):
        inspector.bank(bad)


def test_greedy_coreset_spreads_over_the_features() -> None:
    rng = np.random.default_rng(0)
    # A dense cluster of 990 points and 10 far outliers: a random 2% would miss the outliers.
    features = np.concatenate(
        [rng.normal(0, 0.1, (990, 8)), rng.normal(0, 0.1, (10, 8)) + 50]
    ).astype(np.float32)
    chosen = greedy_coreset(features, 20)
    assert len(set(chosen.tolist())) == 20
    assert (chosen >= 990).any()
    assert np.array_equal(chosen, greedy_coreset(features, 20))  # deterministic
