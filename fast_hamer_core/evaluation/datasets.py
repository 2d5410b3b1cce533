"""Benchmark evaluation sets in their published layouts: FreiHAND (v2 evaluation) and HO3D-v2.

FreiHAND (``FreiHAND_pub_v2_eval.zip``, unpacked; ``--root`` is the folder holding)::

    evaluation/rgb/00000000.jpg ...      224x224 RGB images
    evaluation_K.json                    (N, 3, 3) intrinsics
    evaluation_xyz.json                  (N, 21, 3) joints, metres, camera frame, OpenPose order
    evaluation_verts.json                (N, 778, 3) MANO vertices, metres, camera frame
    evaluation_scale.json                (N,) hand scale (not used by the metrics)

HO3D-v2 (``HO3D_v2.zip``; ``--root`` is the folder holding)::

    evaluation.txt                       lines "<sequence>/<frame id>"
    evaluation/<seq>/rgb/<id>.png        640x480 RGB
    evaluation/<seq>/meta/<id>.pkl       pickle: camMat (3, 3), handBoundingBox [x0, y0, x1, y1],
                                         handJoints3D (3,) root joint (OpenGL frame), ...

HO3D's evaluation ground truth is withheld: predictions go to its evaluation server (CodaLab) as the
JSON :func:`fast_hamer_core.evaluation.protocol.write_ho3d_predictions` writes. If a ground-truth pair
``evaluation_xyz.json`` / ``evaluation_verts.json`` (HO3D joint order) is put next to
``evaluation.txt``, metrics are computed locally as well.

The crop box: FreiHAND, the tight box of the ground-truth joints projected with K; HO3D, the annotated
``handBoundingBox``; then the node's crop rule (x2 rescale, 192:256 aspect, square), so the benchmark
measures what the node does. Both datasets contain right hands only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_hamer_core.distill.data import load_pickle
from fast_hamer_core.preprocess import read_rgb

DATASETS: tuple[str, ...] = ("freihand", "ho3d")

#: Our (OpenPose) 21-joint order -> HO3D's (wrist, index, middle, little, ring, thumb MCP..DIP, then the
#: five tips thumb, index, middle, ring, little); HaMeR's eval.py uses the same permutation.
HO3D_JOINT_ORDER: tuple[int, ...] = (0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20)
#: OpenCV camera frame (x right, y down, z forward) -> OpenGL (y up, z backward), HO3D's frame.
OPENCV_TO_OPENGL: np.ndarray = np.diag([1.0, -1.0, -1.0])

FREIHAND_LAYOUT = (
    "FreiHAND v2 evaluation set: <root>/evaluation/rgb/%08d.jpg and <root>/evaluation_K.json, "
    "evaluation_xyz.json, evaluation_verts.json, evaluation_scale.json (from FreiHAND_pub_v2_eval.zip)"
)
HO3D_LAYOUT = (
    "HO3D-v2 evaluation split: <root>/evaluation.txt (lines <seq>/<id>), "
    "<root>/evaluation/<seq>/rgb/<id>.png and <root>/evaluation/<seq>/meta/<id>.pkl (from HO3D_v2.zip)"
)


@dataclass
class EvalSample:
    """One test hand: the full RGB image, its hand box (xyxy px), side, intrinsics and ground truth
    (metres, the dataset's frame and joint order; None when withheld)."""

    sample_id: str
    image: np.ndarray
    box_xyxy: np.ndarray
    is_right: bool
    k: np.ndarray
    joints_m: np.ndarray | None = None
    vertices_m: np.ndarray | None = None


def _missing(name: str, layout: str, root: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"{name} dataset not found at {root}: missing {what}. Expected the {layout}.")


def _read_json(path: Path) -> list:
    with open(path) as f:
        return json.load(f)


class FreiHANDEval(Sequence):
    """The FreiHAND v2 evaluation set (3960 right hands); ground truth in the camera frame, OpenPose order."""

    name = "freihand"
    joint_order: tuple[int, ...] = tuple(range(21))

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        for rel in ("evaluation/rgb", "evaluation_K.json", "evaluation_xyz.json", "evaluation_verts.json"):
            if not (self.root / rel).exists():
                raise _missing("FreiHAND", FREIHAND_LAYOUT, self.root, rel)
        self.k = np.asarray(_read_json(self.root / "evaluation_K.json"), dtype=np.float64)
        self.xyz = np.asarray(_read_json(self.root / "evaluation_xyz.json"), dtype=np.float64)
        self.verts = np.asarray(_read_json(self.root / "evaluation_verts.json"), dtype=np.float64)
        if not (len(self.k) == len(self.xyz) == len(self.verts)):
            raise ValueError(f"FreiHAND at {self.root}: K, xyz and verts lists differ in length")

    def __len__(self) -> int:
        return len(self.k)

    def __getitem__(self, i: int) -> EvalSample:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        path = self.root / "evaluation" / "rgb" / f"{i:08d}.jpg"
        if not path.is_file():
            raise _missing("FreiHAND", FREIHAND_LAYOUT, self.root, f"evaluation/rgb/{i:08d}.jpg")
        uvw = self.xyz[i] @ self.k[i].T
        uv = uvw[:, :2] / uvw[:, 2:]
        box = np.concatenate([uv.min(0), uv.max(0)])
        return EvalSample(f"{i:08d}", read_rgb(path), box, True, self.k[i], self.xyz[i], self.verts[i])


class HO3DEval(Sequence):
    """The HO3D-v2 evaluation split (right hands, ground truth withheld unless supplied)."""

    name = "ho3d"
    joint_order: tuple[int, ...] = HO3D_JOINT_ORDER

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if not (self.root / "evaluation.txt").is_file():
            raise _missing("HO3D-v2", HO3D_LAYOUT, self.root, "evaluation.txt")
        self.ids = [
            ln.strip() for ln in (self.root / "evaluation.txt").read_text().splitlines() if ln.strip()
        ]
        if not self.ids:
            raise ValueError(f"HO3D-v2 at {self.root}: evaluation.txt lists no frames")
        seq, fid = self.ids[0].split("/")
        if not (self.root / "evaluation" / seq / "rgb" / f"{fid}.png").is_file():
            raise _missing("HO3D-v2", HO3D_LAYOUT, self.root, f"evaluation/{seq}/rgb/{fid}.png")
        self.xyz = self.verts = None
        if (self.root / "evaluation_xyz.json").is_file() and (self.root / "evaluation_verts.json").is_file():
            self.xyz = np.asarray(_read_json(self.root / "evaluation_xyz.json"), dtype=np.float64)
            self.verts = np.asarray(_read_json(self.root / "evaluation_verts.json"), dtype=np.float64)

    @property
    def has_ground_truth(self) -> bool:
        return self.xyz is not None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> EvalSample:  # type: ignore[override]
        seq, fid = self.ids[i].split("/")
        base = self.root / "evaluation" / seq
        meta_path = base / "meta" / f"{fid}.pkl"
        if not meta_path.is_file():
            raise _missing("HO3D-v2", HO3D_LAYOUT, self.root, f"evaluation/{seq}/meta/{fid}.pkl")
        meta = load_pickle(meta_path.read_bytes(), encoding="latin1")
        box = np.asarray(meta["handBoundingBox"], dtype=np.float64).reshape(4)
        gt_j = None if self.xyz is None else self.xyz[i]
        gt_v = None if self.verts is None else self.verts[i]
        return EvalSample(
            self.ids[i],
            read_rgb(base / "rgb" / f"{fid}.png"),
            box,
            True,
            np.asarray(meta["camMat"], dtype=np.float64),
            gt_j,
            gt_v,
        )


def open_eval_set(name: str, root: str | Path) -> FreiHANDEval | HO3DEval:
    """The evaluation set ``name`` (freihand | ho3d) at ``root``; FileNotFoundError names the layout."""
    if name == "freihand":
        return FreiHANDEval(root)
    if name == "ho3d":
        return HO3DEval(root)
    raise ValueError(f"unknown evaluation dataset {name!r}; choose from {DATASETS}")
