"""Synthetic training shards and evaluation sets in the real formats, with rendered synthetic-MANO hands.

- :func:`write_synthetic_shards`: HaMeR webdataset tars (``<key>.jpg`` + ``<key>.data.pyd``).
- :func:`write_mocap`: HaMeR's ``freihand_mocap.npz`` layout (``hand_pose`` (N, 48), ``betas`` (N, 10)).
- :func:`write_freihand_eval` / :func:`write_ho3d_eval`: the published FreiHAND (v2 evaluation) and
  HO3D-v2 evaluation layouts, with the same kind of images.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np

from fast_hamer_core.synth.render import RenderedHand, render_hands, synthetic_mano_layer

#: Sides per image of the default set (6 images, 7 hands: a left one and a two-hand image).
DEFAULT_SIDES: tuple[tuple[str, ...], ...] = (
    ("right",),
    ("left",),
    ("right",),
    ("right", "left"),
    ("right",),
    ("right",),
)


def write_synthetic_shards(
    out_dir: str | Path, sides: tuple[tuple[str, ...], ...] = DEFAULT_SIDES, per_shard: int = 3, seed: int = 0
) -> tuple[list[Path], dict[str, RenderedHand]]:
    """Shards ``out_dir/000000.tar, ...`` with ``per_shard`` images each -> (paths, truth by sample id)."""
    from fast_hamer_core.distill.data import write_shard

    out_dir = Path(out_dir)
    mano = synthetic_mano_layer()
    rng = np.random.default_rng(seed)
    records, truth = [], {}
    for i, s in enumerate(sides):
        image, hands = render_hands(mano, rng, s)
        key = f"img{i:05d}"
        records.append((key, image, [hd.annotation for hd in hands]))
        for h, hd in enumerate(hands):
            truth[f"{key}/{h}"] = hd
    paths = [
        write_shard(out_dir / f"{n:06d}.tar", records[i : i + per_shard])
        for n, i in enumerate(range(0, len(records), per_shard))
    ]
    return paths, truth


def write_freihand_eval(root: str | Path, num: int = 4, seed: int = 1) -> dict[str, np.ndarray]:
    """FreiHAND v2 evaluation layout: ``evaluation/rgb/%08d.jpg`` (224x224) and ``evaluation_{K,xyz,verts,
    scale}.json`` at the root -> the truth (xyz (N, 21, 3), verts (N, 778, 3), K (N, 3, 3)), metres."""
    root = Path(root)
    (root / "evaluation" / "rgb").mkdir(parents=True, exist_ok=True)
    mano = synthetic_mano_layer()
    rng = np.random.default_rng(seed)
    ks, xyzs, vertss = [], [], []
    for i in range(num):
        image, (hand,) = render_hands(mano, rng, ("right",), image_size_wh=(224, 224), focal_px=480.0)
        cv2.imwrite(str(root / "evaluation" / "rgb" / f"{i:08d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        ks.append(np.array([[480.0, 0, 112], [0, 480.0, 112], [0, 0, 1]]))
        xyzs.append(hand.joints_cam)
        vertss.append(hand.vertices_cam)
    for name, value in (("K", ks), ("xyz", xyzs), ("verts", vertss)):
        (root / f"evaluation_{name}.json").write_text(json.dumps([v.tolist() for v in value]))
    (root / "evaluation_scale.json").write_text(json.dumps([0.03] * num))
    return {"K": np.stack(ks), "xyz": np.stack(xyzs), "verts": np.stack(vertss)}


def write_ho3d_eval(
    root: str | Path, seqs: tuple[str, ...] = ("SM1", "MPM10"), per_seq: int = 2, seed: int = 2
) -> list[str]:
    """HO3D-v2 evaluation layout: ``evaluation.txt`` (``<seq>/<id>`` lines), ``evaluation/<seq>/rgb/<id>.png``
    (640x480) and ``evaluation/<seq>/meta/<id>.pkl`` (Python-2-style pickle of numpy: ``camMat``,
    ``handBoundingBox`` [x0, y0, x1, y1], ``handJoints3D`` root only (3,)) -> the ids in order."""
    root = Path(root)
    mano = synthetic_mano_layer()
    rng = np.random.default_rng(seed)
    ids = []
    for seq in seqs:
        for n in range(per_seq):
            fid = f"{n:04d}"
            image, (hand,) = render_hands(mano, rng, ("right",), image_size_wh=(640, 480), focal_px=614.0)
            (root / "evaluation" / seq / "rgb").mkdir(parents=True, exist_ok=True)
            (root / "evaluation" / seq / "meta").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(
                str(root / "evaluation" / seq / "rgb" / f"{fid}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            )
            uv = hand.annotation["keypoints_2d"][:, :2]
            meta = {
                "camMat": np.array([[614.0, 0, 320], [0, 614.0, 240], [0, 0, 1]]),
                "handBoundingBox": np.concatenate([uv.min(0), uv.max(0)]).astype(np.float64),
                "handJoints3D": (hand.joints_cam[0] * np.array([1, -1, -1])).astype(np.float64),  # OpenGL
                "objName": "021_bleach_cleanser",
            }
            (root / "evaluation" / seq / "meta" / f"{fid}.pkl").write_bytes(pickle.dumps(meta, protocol=2))
            ids.append(f"{seq}/{fid}")
    (root / "evaluation.txt").write_text("\n".join(ids) + "\n")
    return ids


def write_mocap(path: str | Path, num: int = 64, seed: int = 0) -> Path:
    """HaMeR's MoCap file layout (``hand_pose`` (N, 48) axis-angle incl. the global orientation, ``betas``
    (N, 10)) with random poses of the same spread as the rendered hands."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.savez(path, hand_pose=rng.normal(0, 0.3, (num, 48)), betas=rng.normal(0, 0.5, (num, 10)))
    return path
