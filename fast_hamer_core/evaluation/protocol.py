"""The evaluation protocol: run a model over a benchmark set, score it, write predictions and results.

For each test hand: the node's crop of its box (:func:`fast_hamer_core.preprocess.crop_hands`), one
forward pass, then the predicted 21 joints and 778 vertices made root-relative (joint 0), put in the
dataset's joint order and frame (HO3D: its joint order and, by default, OpenGL axes), and compared with
the ground truth by :class:`~fast_hamer_core.evaluation.metrics.MeshEvaluator` (Procrustes-aligned,
so the translation and the frame convention do not matter for the scores).

Predictions are written as the JSON the FreiHAND and HO3D evaluation servers take: a pair of lists
``[xyz, verts]``, ``xyz[i]`` (21, 3) and ``verts[i]`` (778, 3) in metres, in the dataset's order, as
``pred.json`` inside a zip (what both CodaLab servers expect to be uploaded: :func:`write_predictions`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fast_hamer_core.evaluation.datasets import OPENCV_TO_OPENGL, FreiHANDEval, HO3DEval
from fast_hamer_core.evaluation.metrics import MeshEvaluator

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    """Per-sample predictions in the dataset's joint order and frame, metres, root-relative."""

    ids: list[str]
    joints_m: np.ndarray  # (N, 21, 3)
    vertices_m: np.ndarray  # (N, 778, 3)


def predict(
    model: torch.nn.Module,
    dataset: FreiHANDEval | HO3DEval,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
    limit: int | None = None,
    opengl: bool | None = None,
    progress: bool = False,
) -> Predictions:
    """Run ``model`` (HandMeshModel with MANO) over ``dataset``. ``opengl``: output in OpenGL axes
    (default: True for HO3D, whose ground truth uses them, False for FreiHAND). ``progress``: a tqdm bar."""
    from tqdm import tqdm

    from fast_hamer_core.preprocess import crop_hands, normalize_crops

    if not getattr(model, "has_mano", False):
        raise ValueError(
            "evaluation needs the model's MANO layer (pass --mano or set up the models directory)"
        )
    device = torch.device(device)
    model = model.to(device).eval()
    pre = model.config.preprocess
    opengl = isinstance(dataset, HO3DEval) if opengl is None else opengl
    order = list(dataset.joint_order)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    ids, joints, verts = [], [], []
    bar = tqdm(total=n, desc=f"eval {dataset.name}", unit="hand", disable=not progress, dynamic_ncols=True)
    for start in range(0, n, batch_size):
        samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
        crops = np.concatenate(
            [
                crop_hands(
                    s.image, s.box_xyxy[None], np.array([s.is_right]), pre.crop_size, pre.rescale_factor
                )[0]
                for s in samples
            ]
        )
        x = normalize_crops(crops, tuple(pre.mean), tuple(pre.std), device=device)
        with torch.inference_mode():
            out = model(x)
        j = out["pred_keypoints_3d"].float().cpu().numpy().astype(np.float64)  # (B, 21, 3) MANO frame
        v = out["pred_vertices"].float().cpu().numpy().astype(np.float64)  # (B, 778, 3)
        root = j[:, :1]
        j, v = j - root, v - root
        for k, s in enumerate(samples):
            if not s.is_right:  # the network saw the mirrored hand
                j[k, :, 0], v[k, :, 0] = -j[k, :, 0], -v[k, :, 0]
        if opengl:
            j, v = j @ OPENCV_TO_OPENGL.T, v @ OPENCV_TO_OPENGL.T
        joints.append(j[:, order])
        verts.append(v)
        ids.extend(s.sample_id for s in samples)
        bar.update(len(samples))
    bar.close()
    return Predictions(ids, np.concatenate(joints), np.concatenate(verts))


def score(dataset: FreiHANDEval | HO3DEval, preds: Predictions) -> dict[str, Any] | None:
    """FreiHAND-protocol metrics of ``preds`` against the dataset's ground truth (None if withheld)."""
    if isinstance(dataset, HO3DEval) and not dataset.has_ground_truth:
        return None
    n = len(preds.ids)
    gt_j = np.stack([dataset.xyz[i] for i in range(n)])
    gt_v = np.stack([dataset.verts[i] for i in range(n)])
    ev = MeshEvaluator()
    for s in range(0, n, 64):
        ev.add(preds.joints_m[s : s + 64], gt_j[s : s + 64], preds.vertices_m[s : s + 64], gt_v[s : s + 64])
    return ev.summary()


#: The member name both evaluation servers read from the uploaded zip.
PREDICTION_MEMBER = "pred.json"


def write_predictions(path: str | Path, preds: Predictions) -> Path:
    """The servers' ``[xyz_list, verts_list]`` JSON (see the module docstring): a ``.zip`` path gets
    ``pred.json`` inside it (upload that file as it is), any other path the plain JSON."""
    import zipfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps([preds.joints_m.round(6).tolist(), preds.vertices_m.round(6).tolist()])
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(PREDICTION_MEMBER, text)
    else:
        path.write_text(text)
    return path


def read_predictions(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(xyz (N, 21, 3), verts (N, 778, 3)) from what :func:`write_predictions` wrote. Inverse of it."""
    import zipfile

    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read(PREDICTION_MEMBER))
    else:
        data = json.loads(path.read_text())
    return np.asarray(data[0]), np.asarray(data[1])


write_ho3d_predictions = write_predictions


def evaluate(
    model: torch.nn.Module,
    dataset: FreiHANDEval | HO3DEval,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
    limit: int | None = None,
    predictions_path: str | Path | None = None,
    speed: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Predict, score, write predictions; returns the JSON-ready result record ``fast-hamer report`` reads."""
    t0 = time.perf_counter()
    preds = predict(model, dataset, device, batch_size, limit, progress=progress)
    metrics = score(dataset, preds)
    result: dict[str, Any] = {
        "model": model.config.name,
        "dataset": dataset.name,
        "num_samples": len(preds.ids),
        "metrics": metrics,
        "eval_seconds": time.perf_counter() - t0,
        **(extra or {}),
    }
    if predictions_path is not None:
        result["predictions"] = str(write_predictions(predictions_path, preds))
    if speed is not None:
        result["speed"] = speed
    return result
