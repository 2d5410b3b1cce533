"""The multi-scale palm search: its windows, the mapping of palms back to the image, the merge."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core.detection.blaze import PalmDetector
from fast_hamer_core.detection.search import (
    PalmSearch,
    SearchConfig,
    grey_copy,
    merge_palms,
    palms_in_window,
    search_windows,
)


@pytest.fixture(scope="module")
def palm_detector(task_path):
    return PalmDetector(task_path)


def test_grey_copy_is_the_luma_in_every_channel(load_photo):
    rgb = load_photo("hamer_test3.jpg")
    grey = grey_copy(rgb)
    assert grey.shape == rgb.shape and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # Rec. 601
    assert np.abs(grey[..., 0] - luma).max() <= 1.0


def test_windows_cover_the_image_at_every_scale():
    width, height = 1920, 1080
    windows = search_windows(width, height, SearchConfig(pad_factor=1.6, tile_grids=(2, 3)))
    kinds = [w.kind for w in windows]
    assert kinds[:2] == ["padded", "whole"]
    assert windows[0].region.size_px == pytest.approx(1.6 * 1920) and windows[1].region.size_px == 1920
    for n in (2, 3):
        side = 1920 / n * 1.25
        tiles = [w.region for w in windows if w.kind == "tile" and w.region.size_px == pytest.approx(side)]
        assert tiles, f"no {n}-grid"
        # Every pixel of the image lies in some tile of the grid.
        ys, xs = np.mgrid[0:height:37, 0:width:37]
        covered = np.zeros(xs.shape, bool)
        for t in tiles:
            x0, y0, x1, y1 = t.box_px()
            covered |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        assert covered.all()
        assert all(t.rotation_rad == 0.0 for t in tiles)


def test_small_images_get_no_tiles_below_the_minimum():
    windows = search_windows(200, 150, SearchConfig(tile_grids=(3,), min_tile_px=96.0))
    assert [w.kind for w in windows] == ["padded", "whole"]  # a 3-grid tile would be 83 px
    with pytest.raises(ValueError, match="tile_grids"):
        SearchConfig(tile_grids=(0,))


def test_palms_map_back_to_the_image(palm_detector, load_photo):
    """The whole window is the detector's own letterbox: the same palms, in the same pixels; and a
    mirrored search of the flipped image finds them at the same place too."""
    rgb = load_photo("fasthamer_sample2.jpg")
    (whole,) = [w for w in search_windows(640, 640) if w.kind == "whole"]
    direct = palm_detector.detect(rgb)
    via_window = palms_in_window(palm_detector, rgb, whole, mirror=False)
    assert len(direct) == len(via_window) == 2
    for a, b in zip(direct, via_window, strict=True):
        assert np.allclose(a.box_px, b.box_px, atol=0.5) and np.allclose(
            a.keypoints_px, b.keypoints_px, atol=0.5
        )
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    mirrored = palms_in_window(palm_detector, flipped, whole, mirror=True)
    assert len(mirrored) == 2
    by_x = sorted(direct, key=lambda p: p.box_px[0])
    for a, b in zip(by_x, sorted(mirrored, key=lambda p: -p.box_px[0]), strict=True):
        back = b.keypoints_px.copy()
        back[:, 0] = 640 - back[:, 0]
        assert np.allclose(a.keypoints_px, back, atol=1.0)


def test_search_merges_one_palm_per_hand(palm_detector, load_photo):
    rgb = load_photo("fasthamer_sample2.jpg")
    palms = PalmSearch(palm_detector, SearchConfig(tile_grids=(2,))).find(rgb)
    centres = np.array([p.keypoints_px.mean(0) for p in palms])
    for hand in ((396, 402), (458, 394)):
        assert np.min(np.linalg.norm(centres - hand, axis=1)) < 40.0
    merged_again = merge_palms(palms, palm_detector, 0.3)
    assert len(merged_again) == len(palms)  # a merged set is a fixed point of the merge
