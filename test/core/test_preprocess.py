"""Box -> crop (HaMeR's demo preprocessing), crop <-> image coordinates, mirroring, normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fast_hamer_core.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropTransform,
    antialias_sigma,
    box_from_keypoints,
    crop_hands,
    crop_points_to_image,
    hand_crop_box,
    mirror_points_x,
    normalize_crops,
    unmirror_cam,
    warp_crop,
)

RNG = np.random.default_rng(0)


def hamer_expand_to_aspect_ratio(wh: np.ndarray, target=(192, 256)) -> np.ndarray:
    """HaMeR's hamer/datasets/utils.py expand_to_aspect_ratio, branch for branch (the reference)."""
    w, h = wh
    w_t, h_t = target
    if h / w < h_t / w_t:
        h_new, w_new = max(w * h_t / w_t, h), w
    else:
        h_new, w_new = h, max(h * w_t / h_t, w)
    return np.array([w_new, h_new])


def hamer_crop_matrix(cx: float, cy: float, size: float, out: int = 256) -> np.ndarray:
    """HaMeR's gen_trans_from_patch_cv (no rotation, scale 1): three point pairs -> cv2 affine."""
    src = np.float32([[cx, cy], [cx, cy + size / 2], [cx + size / 2, cy]])
    dst = np.float32([[out / 2, out / 2], [out / 2, out], [out, out / 2]])
    return cv2.getAffineTransform(src, dst)


def ramp_image(h: int, w: int) -> np.ndarray:
    """R = x / 5, G = y / 5, B = 40: linear in x and y, so bilinear sampling and blurring keep it exact."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([x / 5.0, y / 5.0, np.full_like(x, 40.0)], -1).round().astype(np.uint8)


# ---------------------------------------------------------------------------------------------- boxes


def test_box_from_keypoints():
    kp = RNG.uniform(100, 300, (21, 2))
    np.testing.assert_allclose(box_from_keypoints(kp), [*kp.min(0), *kp.max(0)])
    conf = np.full(21, 0.9)
    kp_out = kp.copy()
    kp_out[3] = [5.0, 900.0]  # an unconfident outlier does not stretch the box
    conf[3] = 0.2
    np.testing.assert_allclose(box_from_keypoints(kp_out, conf), [*kp.min(0), *kp.max(0)])
    with pytest.raises(ValueError, match="need >= 2 keypoints"):
        box_from_keypoints(kp, np.zeros(21))
    with pytest.raises(ValueError, match="confidence has 20 values"):
        box_from_keypoints(kp, np.ones(20))


@pytest.mark.parametrize("wh", [(100.0, 50.0), (60.0, 100.0), (75.0, 100.0), (3.0, 200.0), (200.0, 3.0)])
def test_hand_crop_box_is_hamers(wh):
    box = np.array([40.0, 70.0, 40.0 + wh[0], 70.0 + wh[1]])
    center, size = hand_crop_box(box, rescale=2.0)
    np.testing.assert_allclose(center, [40.0 + wh[0] / 2, 70.0 + wh[1] / 2])
    ref = hamer_expand_to_aspect_ratio(2.0 * np.array(wh) / 200.0 * 200.0).max()
    assert size == pytest.approx(ref, rel=1e-12)


def test_hand_crop_box_rejects_degenerate():
    with pytest.raises(ValueError, match="degenerate box"):
        hand_crop_box([10.0, 10.0, 10.0, 10.0])
    with pytest.raises(ValueError, match="degenerate box"):
        hand_crop_box([10.0, 10.0, 5.0, 20.0])


# ---------------------------------------------------------------------------------------------- transforms


@pytest.mark.parametrize("flip", [False, True])
def test_crop_transform_round_trip(flip):
    t = CropTransform(np.array([321.7, 123.4]), 187.3, flip=flip)
    pts = RNG.uniform(-100, 700, (5, 21, 2))
    np.testing.assert_allclose(t.crop_to_image(t.image_to_crop(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(t.image_to_normalized(t.normalized_to_image(pts / 500)), pts / 500, atol=1e-12)
    np.testing.assert_allclose(t.image_to_crop(t.center_px), [128.0, 128.0])
    pts_t = torch.as_tensor(pts)
    torch.testing.assert_close(t.crop_to_image(t.image_to_crop(pts_t)), pts_t)
    np.testing.assert_allclose(crop_points_to_image(t.image_to_crop(pts[:2]), [t, t]), pts[:2], atol=1e-9)


def test_crop_transform_matches_hamer_matrix_and_flip():
    cx, cy, size, width = 321.7, 123.4, 187.3, 640
    plain = CropTransform(np.array([cx, cy]), size)
    np.testing.assert_allclose(
        plain.matrix, hamer_crop_matrix(cx, cy, size), atol=1e-4
    )  # cv2 works in float32
    # HaMeR flips the image (x -> W - 1 - x) and the centre (cx -> W - cx - 1), then crops.
    flipped = CropTransform(np.array([cx, cy]), size, flip=True)
    pts = RNG.uniform(0, 480, (30, 2))
    pts_in_flipped_image = np.stack([width - 1 - pts[:, 0], pts[:, 1]], -1)
    ref = pts_in_flipped_image @ hamer_crop_matrix(width - cx - 1, cy, size)[:, :2].T
    ref += hamer_crop_matrix(width - cx - 1, cy, size)[:, 2]
    np.testing.assert_allclose(flipped.image_to_crop(pts), ref, atol=1e-3)
    # HaMeR's demo maps left-hand keypoints back with x negated in normalised units: same thing.
    kp_norm = RNG.uniform(-0.5, 0.5, (21, 2))
    demo = np.array([cx, cy]) + size * (kp_norm * np.array([-1.0, 1.0]))
    np.testing.assert_allclose(flipped.normalized_to_image(kp_norm), demo, atol=1e-9)


# ---------------------------------------------------------------------------------------------- crops


@pytest.mark.parametrize("flip", [False, True])
def test_crop_samples_the_expected_image_points(flip):
    image = ramp_image(480, 640)
    t = CropTransform(np.array([300.0, 200.0]), 180.0, flip=flip)  # small box: no blur
    assert antialias_sigma(t.size_px) == 0.0
    crop = warp_crop(image, t)
    jj, ii = np.meshgrid(np.arange(256.0), np.arange(256.0))
    src = t.crop_to_image(np.stack([jj, ii], -1))  # (256, 256, 2) image coordinates of each crop pixel
    np.testing.assert_allclose(crop[..., 0], src[..., 0] / 5.0, atol=1.01)  # x ramp, up to uint8 rounding
    np.testing.assert_allclose(crop[..., 1], src[..., 1] / 5.0, atol=1.01)
    if flip:  # mirrored: x decreases to the right
        assert crop[128, 200, 0] < crop[128, 50, 0]


def test_crop_outside_the_image_is_black():
    image = np.full((100, 100, 3), 200, np.uint8)
    crops, _ = crop_hands(image, np.array([[80.0, 80.0, 99.0, 99.0]]), np.array([True]))
    # The crop square spans image x, y in [64.2, 114.8]: its top-left is inside, its bottom-right outside.
    assert crops[0, 0, 0].tolist() == [200, 200, 200] and crops[0, 128, 128].tolist() == [200, 200, 200]
    assert crops[0, 255, 255].tolist() == [0, 0, 0] and crops[0, 0, 255].tolist() == [0, 0, 0]


def test_known_pattern_lands_where_expected():
    image = np.zeros((480, 640, 3), np.uint8)
    image[200:220, 300:320] = (255, 0, 0)  # a red square, centre (309.5, 209.5)
    box = np.array([290.0, 190.0, 330.0, 230.0])
    crops, (t,) = crop_hands(image, box[None], np.array([True]))
    red = crops[0, ..., 0].astype(np.float64)
    ys, xs = np.nonzero(red > 127)
    np.testing.assert_allclose([xs.mean(), ys.mean()], t.image_to_crop(np.array([309.5, 209.5])), atol=0.6)
    assert xs.max() - xs.min() + 1 == pytest.approx(20 * t.scale, abs=2)  # 20 px wide, scaled


def test_roi_blur_equals_full_image_blur():
    """Large boxes are blurred (HaMeR's anti-aliasing); blurring only the ROI gives the full-image result."""
    image = RNG.integers(0, 256, (1100, 1500, 3), dtype=np.uint8)
    # ROI strictly inside the image (the margin matters), over a corner, larger than the image.
    for center, size in (((800.0, 560.0), 900.0), ((60.0, 1050.0), 900.0), ((750.0, 550.0), 2400.0)):
        t = CropTransform(np.array(center), size, flip=True)
        sigma = antialias_sigma(size)
        assert sigma > 0
        k = 2 * int(np.ceil(4 * sigma)) + 1
        full = cv2.GaussianBlur(image, (k, k), sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
        ref = cv2.warpAffine(
            full, t.matrix, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        ours = warp_crop(image, t)
        assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1


def test_left_hand_crop_equals_mirrored_image_right_hand_crop():
    image = RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 1.0)
    w = image.shape[1]
    box = np.array([[210.0, 140.0, 330.0, 260.0], [20.0, 300.0, 500.0, 470.0]])  # the 2nd one is blurred
    mirrored = np.ascontiguousarray(image[:, ::-1])
    box_m = np.stack([w - 1 - box[:, 2], box[:, 1], w - 1 - box[:, 0], box[:, 3]], -1)
    left, _ = crop_hands(image, box, np.array([False, False]))
    right, _ = crop_hands(mirrored, box_m, np.array([True, True]))
    assert left.shape == (2, 256, 256, 3) and left.dtype == np.uint8
    assert np.abs(left.astype(int) - right.astype(int)).max() <= 1


def test_crop_hands_validates_input():
    image = np.zeros((10, 10, 3), np.uint8)
    crops, transforms = crop_hands(image, np.zeros((0, 4)), np.zeros(0, bool))
    assert crops.shape == (0, 256, 256, 3) and transforms == []
    with pytest.raises(ValueError, match="uint8"):
        crop_hands(image.astype(np.float32), np.zeros((0, 4)), np.zeros(0, bool))
    with pytest.raises(ValueError, match="2 boxes but 1"):
        crop_hands(image, np.ones((2, 4)), np.array([True]))


# ---------------------------------------------------------------------------------------------- tensors


def test_normalize_crops_numbers():
    crops = RNG.integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
    crops[0, 0, 0] = np.round(255 * np.array(IMAGENET_MEAN))
    out = normalize_crops(crops)
    assert out.shape == (2, 3, 8, 6) and out.dtype == torch.float32 and out.is_contiguous()
    ref = (crops.astype(np.float64) - 255 * np.array(IMAGENET_MEAN)) / (255 * np.array(IMAGENET_STD))  # HaMeR
    np.testing.assert_allclose(out.permute(0, 2, 3, 1).numpy(), ref, atol=1e-5)
    assert out[0, :, 0, 0].abs().max() < 0.01
    torch.testing.assert_close(normalize_crops(np.zeros((1, 2, 2, 3), np.uint8))[0, :, 0, 0],
                               -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))  # fmt: skip


def test_mirror_points_and_cam():
    pts = RNG.normal(size=(2, 778, 3))
    m = mirror_points_x(pts)
    np.testing.assert_array_equal(m[..., 0], -pts[..., 0])
    np.testing.assert_array_equal(m[..., 1:], pts[..., 1:])
    np.testing.assert_array_equal(mirror_points_x(m), pts)
    torch.testing.assert_close(mirror_points_x(torch.as_tensor(pts)), torch.as_tensor(m))
    cam = np.array([[5.0, 0.1, 0.2], [6.0, 0.3, -0.4]])
    np.testing.assert_allclose(unmirror_cam(cam, [True, False]), [[5.0, 0.1, 0.2], [6.0, -0.3, -0.4]])
    torch.testing.assert_close(
        unmirror_cam(torch.as_tensor(cam), torch.tensor([False, True])),
        torch.tensor([[5.0, -0.1, 0.2], [6.0, 0.3, -0.4]], dtype=torch.float64),
    )
