"""HaMeR-format shards: written, read back, cropped and augmented with labels following the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures import shards as shard_fixtures
from fixtures.shards import JOINT_COLORS, MARKER_RADIUS_PX

from fast_hamer_core.distill.augment import (
    AugmentConfig,
    AugmentParams,
    crop_matrix,
    denormalise_crop,
    labels_from_crop,
    labels_to_crop,
)
from fast_hamer_core.distill.data import (
    CropConfig,
    FilterConfig,
    HandShardDataset,
    ShardSource,
    annotation_labels,
    clean_annotation,
    collate,
    decode_record,
    iter_tar,
    iterate_records,
    make_sample,
)

CROP = CropConfig()
synthetic_shards = shard_fixtures.synthetic_shards  # pytest fixtures
synthetic_mano = shard_fixtures.synthetic_mano


def _records(shards):
    return {r["__key__"]: r for r in iterate_records([str(p) for p in shards])}


def _separated_joints(kp_px: np.ndarray, min_dist: float) -> np.ndarray:
    d = np.linalg.norm(kp_px[:, None] - kp_px[None], axis=-1) + np.eye(len(kp_px)) * 1e9
    return np.where(d.min(axis=1) > min_dist)[0]


def _check_markers(sample, image_kp_px: np.ndarray, image_wh: tuple[int, int] = (320, 240)) -> int:
    """Each well-separated joint inside image and crop shows its own marker colour at its crop keypoint."""
    crop = denormalise_crop(sample["img"], CROP.mean, CROP.std).astype(float)
    palette = np.array(JOINT_COLORS, dtype=float)
    uv = (sample["keypoints_2d"][:, :2] + 0.5) * CROP.crop_size
    checked = 0
    r = MARKER_RADIUS_PX
    for j in _separated_joints(image_kp_px, 2 * r + 3):
        x, y = np.round(uv[j]).astype(int)
        if not (3 <= x < CROP.crop_size - 3 and 3 <= y < CROP.crop_size - 3):
            continue
        if not (r <= image_kp_px[j, 0] < image_wh[0] - r and r <= image_kp_px[j, 1] < image_wh[1] - r):
            continue
        colour = crop[y, x]
        nearest = int(np.argmin(np.linalg.norm(palette - colour, axis=1)))
        assert nearest == j, f"joint {j}: crop colour {colour} at {uv[j]} is the marker of joint {nearest}"
        assert np.linalg.norm(palette[j] - colour) < 70
        checked += 1
    return checked


def _mano_joints(mano, sample) -> np.ndarray:
    with torch.no_grad():
        out = mano(
            torch.from_numpy(sample["global_orient"])[None],
            torch.from_numpy(sample["hand_pose"])[None],
            torch.from_numpy(sample["betas"])[None],
        )
    return out.joints[0].numpy()


def _orthographic_residual(kp2d: np.ndarray, kp3d: np.ndarray) -> float:
    """RMS residual of the best fit kp2d ~ s * kp3d_xy + t (no rotation), relative to the 2D spread."""
    a = np.zeros((42, 3))
    a[0::2, 0], a[1::2, 0] = kp3d[:, 0], kp3d[:, 1]
    a[0::2, 1], a[1::2, 2] = 1.0, 1.0
    b = kp2d.reshape(-1)
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    return float(np.sqrt(np.mean((a @ sol - b) ** 2)) / kp2d.std())


def test_shards_read_back(synthetic_shards):
    shards, truth = synthetic_shards
    raw = next(iter_tar(str(shards[0])))
    assert set(raw) >= {"__key__", "__url__", "jpg", "data.pyd"}
    records = _records(shards)
    assert len(records) == 6
    for sample_id, hand in truth.items():
        key, h = sample_id.split("/")
        ann = records[key]["hands"][int(h)]
        for k in ("center", "scale", "keypoints_2d", "keypoints_3d", "hand_pose", "betas", "right"):
            np.testing.assert_array_equal(ann[k], hand.annotation[k])
        assert records[key]["image"].shape == (240, 320, 3)
    assert len(records["img00003"]["hands"]) == 2


def test_unaugmented_samples_are_consistent(synthetic_shards, synthetic_mano):
    shards, truth = synthetic_shards
    ds = HandShardDataset([ShardSource("synthetic", tuple(map(str, shards)))], augment=None, shuffle_buffer=0)
    samples = list(ds)
    assert sorted(s["sample_id"] for s in samples) == sorted(truth)
    sides = []
    for s in samples:
        assert s["img"].shape == (3, 256, 256) and s["img"].dtype == np.float32
        assert np.all(np.abs(s["keypoints_2d"][:, :2]) <= 0.5)
        # GT MANO parameters (left hands flipped to right ones) reproduce the GT 3D keypoints
        joints = _mano_joints(synthetic_mano, s)
        kp3 = s["keypoints_3d"][:, :3]
        np.testing.assert_allclose(joints - joints[:1], kp3 - kp3[:1], atol=2e-5)
        assert _orthographic_residual(s["keypoints_2d"][:, :2], kp3) < 0.08
        assert _check_markers(s, truth[s["sample_id"]].annotation["keypoints_2d"][:, :2]) >= 3
        sides.append(float(s["right"]))
    assert sides.count(0.0) == 2  # the two left hands were read (and flipped)
    batch = collate(samples[:3])
    assert batch["img"].shape == (3, 3, 256, 256) and batch["hand_pose"].shape == (3, 15, 3, 3)
    assert "teacher_keypoints_2d" not in batch


@pytest.mark.parametrize(
    "params",
    [
        AugmentParams(scale=1.25, rot_deg=40.0, tx=0.05, ty=-0.04),
        AugmentParams(scale=0.8, rot_deg=-70.0, flip=True, tx=-0.02),
    ],
)
def test_augmentation_moves_labels_with_image(synthetic_shards, synthetic_mano, params):
    shards, truth = synthetic_shards
    records = _records(shards)
    plain = AugmentParams()
    for sample_id, hand in truth.items():
        key, h = sample_id.split("/")
        ann = clean_annotation(records[key]["hands"][int(h)], FilterConfig())
        s = make_sample(records[key]["image"], ann, sample_id, CROP, params)
        s0 = make_sample(records[key]["image"], ann, sample_id, CROP, plain)
        assert _check_markers(s, hand.annotation["keypoints_2d"][:, :2]) >= 3
        # 3D keypoints and MANO rotations got the same in-plane rotation (and mirror) as the image
        kp3 = s["keypoints_3d"][:, :3]
        assert _orthographic_residual(s["keypoints_2d"][:, :2], kp3) < 0.08
        if params.flip and s["right"] == 1.0:
            # a flipped right hand is a left hand: its labels are the mirrored ones (left-hand convention)
            mirror = np.diag([-1.0, 1.0, 1.0])
            np.testing.assert_allclose(s["hand_pose"], mirror @ s0["hand_pose"] @ mirror, atol=1e-6)
        else:  # the network sees a right hand: right-hand MANO of the labels gives the 3D keypoints
            joints = _mano_joints(synthetic_mano, s)
            np.testing.assert_allclose(joints - joints[:1], kp3 - kp3[:1], atol=2e-5)
        # the augmentation really moved things
        assert np.abs(s["keypoints_2d"] - s0["keypoints_2d"]).max() > 0.05
        assert not np.allclose(s["global_orient"], s0["global_orient"], atol=1e-3)
        if params.flip and s["right"] == 1.0:  # a flipped right hand has mirrored joint rotations
            assert not np.allclose(s["hand_pose"], s0["hand_pose"], atol=1e-3)
        else:  # in-plane rotation changes only the global orientation (left hands are flipped anyway)
            np.testing.assert_allclose(s["hand_pose"], s0["hand_pose"], atol=1e-6)


def test_random_augmentation_stream(synthetic_shards):
    shards, truth = synthetic_shards
    cfg = AugmentConfig(color_scale=0.0, rot_aug_rate=1.0, do_flip=True, flip_aug_rate=0.5)
    ds = HandShardDataset(
        [ShardSource("synthetic", tuple(map(str, shards)))], augment=cfg, shuffle_buffer=4, seed=3
    )
    checked = sum(_check_markers(s, truth[s["sample_id"]].annotation["keypoints_2d"][:, :2]) for s in ds)
    assert checked >= 7 * 4
    # colour augmentation changes pixels only
    s_col = make_sample(*_one(shards), CROP, AugmentParams(color=(1.2, 0.8, 1.0)))
    s_ref = make_sample(*_one(shards), CROP, AugmentParams())
    assert not np.allclose(s_col["img"], s_ref["img"])
    np.testing.assert_array_equal(s_col["keypoints_2d"], s_ref["keypoints_2d"])


def _one(shards):
    rec = decode_record(next(iter_tar(str(shards[0]))))
    return rec["image"], clean_annotation(rec["hands"][0], FilterConfig()), "x/0"


def test_crop_labels_round_trip(synthetic_shards):
    image, ann, _ = _one(synthetic_shards[0])
    labels = annotation_labels(ann)
    params = AugmentParams(scale=1.1, rot_deg=25.0, flip=True, tx=0.03)
    m = crop_matrix(ann["center"], 150.0, 256, params, image.shape[1])
    back = labels_from_crop(labels_to_crop(labels, m, params, 256), m, params, 256)
    for name in ("keypoints_2d", "keypoints_3d", "global_orient", "hand_pose", "betas"):
        np.testing.assert_allclose(getattr(back, name), getattr(labels, name), atol=1e-4)


def test_annotation_filters():
    ann = {
        "keypoints_2d": np.ones((21, 3)),
        "hand_pose": np.zeros(48),
        "betas": np.full(10, 5.0),
        "has_hand_pose": 1.0,
        "has_betas": 1.0,
    }
    out = clean_annotation(ann, FilterConfig())
    # betas beyond 3 are suppressed -> with poses_betas_simultaneous the pose goes too; betas_reg -> 0, has 1
    assert out["has_hand_pose"] == 0.0 and out["has_betas"] == 1.0 and not out["betas"].any()
    few = dict(ann, keypoints_2d=np.concatenate([np.ones((4, 3)), np.zeros((17, 3))]))
    assert clean_annotation(few, FilterConfig()) is None  # <= 4 confident keypoints
    low = dict(ann, keypoints_2d=np.full((21, 3), 0.2))
    assert clean_annotation(low, FilterConfig()) is None  # confidences under 0.3 suppressed
    bad_fit = dict(ann, extra_info={"fitting_loss": np.array({"reprojection_loss": 5e4})})
    assert clean_annotation(bad_fit, FilterConfig()) is None


def test_missing_dataset_names_it_and_its_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'freihand-train'.*<key>\.jpg.*data\.pyd"):
        HandShardDataset([ShardSource("freihand-train", str(tmp_path / "{000000..000003}.tar"))])


def test_workers_split_the_shards(synthetic_shards):
    shards, truth = synthetic_shards
    ds = HandShardDataset([ShardSource("synthetic", tuple(map(str, shards)))], augment=None, shuffle_buffer=3)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate)
    ids = [b["sample_id"][0] for b in loader]
    assert sorted(ids) == sorted(truth)  # every hand exactly once over the two workers


def _write_tar(path, members: dict[str, bytes]) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_jpeg_with_exif_orientation_keeps_the_stored_pixels_like_hamer(synthetic_shards, tmp_path):
    """HaMeR's loader (PIL via webdataset) ignores EXIF orientation: stored pixels go with the keypoints."""
    import pickle

    from fixtures.images import jpeg_with_orientation

    shards, truth = synthetic_shards
    records = _records(shards)
    sample_id = next(s for s in truth if s.endswith("/0"))
    key = sample_id.split("/")[0]
    image, hands = records[key]["image"], records[key]["hands"]
    shard = tmp_path / "exif.tar"
    _write_tar(
        shard, {"exif0.jpg": jpeg_with_orientation(image, 6), "exif0.data.pyd": pickle.dumps(hands[:1])}
    )
    (record,) = iterate_records([str(shard)])
    assert record["image"].shape == image.shape  # not rotated to (320, 240)
    assert np.abs(record["image"].astype(int) - image).mean() < 3
    ds = HandShardDataset([ShardSource("exif", (str(shard),))], augment=None, shuffle_buffer=0)
    (sample,) = list(ds)
    assert _check_markers(sample, truth[sample_id].annotation["keypoints_2d"][:, :2]) >= 3


def test_one_value_scale_is_a_square_box_not_expanded_to_the_aspect():
    """HaMeR's webdataset path: expand_to_aspect_ratio returns a one-value scale unchanged."""
    from fast_hamer_core.distill.data import box_of

    center, size = box_of({"center": np.array([100.0, 80.0]), "scale": np.array([0.5])}, CROP)
    assert size == pytest.approx(100.0)
    _, size_2 = box_of({"center": np.array([100.0, 80.0]), "scale": np.array([0.5, 0.5])}, CROP)
    assert size_2 == pytest.approx(100.0 * 256 / 192)  # (w, h) is expanded to 192:256
    np.testing.assert_array_equal(center, [100.0, 80.0])
