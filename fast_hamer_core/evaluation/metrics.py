"""Hand-mesh accuracy metrics of the FreiHAND / HO3D protocol: Procrustes-aligned errors, F-scores, PCK/AUC.

Conventions: points in metres in, errors in millimetres out (``*_mm`` names); every function is batched
over a leading dimension and accepts torch tensors or numpy arrays (results come back as numpy).

The protocol (FreiHAND's official ``eval.py``, which HO3D's evaluation server copies):

- **PA-MPJPE / PA-MPVPE**: the prediction is aligned to the ground truth by the similarity transform
  (scale, rotation, translation) that minimises the squared error (Umeyama / orthogonal Procrustes with
  scale), separately for joints and for vertices; then the mean Euclidean error per point.
- **F@5mm, F@15mm**: vertex sets after alignment; precision = share of predicted vertices within the
  threshold of their nearest ground-truth vertex, recall = the converse; F = 2PR / (P + R).
- **PCK curve and AUC**: share of aligned joints with error <= t for thresholds t in [0, 50] mm
  (100 evenly spaced values, FreiHAND's ``get_measures(0.0, 0.05, 100)``), computed per joint over
  all samples and averaged over joints; AUC = the curve's trapezoid integral divided by the threshold
  range (so a perfect prediction scores 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: FreiHAND's PCK thresholds: 0 to 50 mm, 100 evenly spaced values.
PCK_THRESHOLDS_MM: np.ndarray = np.linspace(0.0, 50.0, 100)
#: F-score thresholds of the FreiHAND protocol, millimetres.
F_SCORE_THRESHOLDS_MM: tuple[float, ...] = (5.0, 15.0)

ArrayLike = np.ndarray | torch.Tensor


def _as_tensor(x: ArrayLike) -> torch.Tensor:
    """float64 tensor on its own device (numpy -> CPU); float64 keeps the SVD exact at the mm level."""
    return (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))).to(torch.float64)


def _check_points(name: str, x: torch.Tensor) -> None:
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name}: expected (B, N, 3) points, got shape {tuple(x.shape)}")


@dataclass(frozen=True)
class SimilarityTransform:
    """``y = scale * R @ x + t`` for a batch: ``scale`` (B,), ``rotation`` (B, 3, 3), ``translation`` (B, 3).

    :meth:`apply` and :meth:`inverse` are inverses: ``T.inverse().apply(T.apply(x)) == x``.
    """

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: ArrayLike) -> torch.Tensor:
        """(B, N, 3) -> (B, N, 3) transformed points (float64)."""
        p = _as_tensor(points).to(self.rotation.device)
        return self.scale[:, None, None] * p @ self.rotation.transpose(-1, -2) + self.translation[:, None, :]

    def inverse(self) -> SimilarityTransform:
        """The transform undoing this one: ``x = R^T (y - t) / scale``."""
        r_t = self.rotation.transpose(-1, -2)
        return SimilarityTransform(
            scale=1.0 / self.scale,
            rotation=r_t,
            translation=-(r_t @ self.translation[..., None])[..., 0] / self.scale[:, None],
        )


def similarity_procrustes(source: ArrayLike, target: ArrayLike) -> SimilarityTransform:
    """The similarity transform T minimising ``sum ||T(source_n) - target_n||^2`` (Umeyama, 1991).

    ``source``, ``target``: (B, N, 3) corresponding points. The rotation is proper (det +1): a
    reflection is never used to explain a mirrored prediction.
    """
    src, dst = _as_tensor(source), _as_tensor(target).to(_as_tensor(source).device)
    _check_points("source", src)
    _check_points("target", dst)
    if src.shape != dst.shape:
        raise ValueError(f"source {tuple(src.shape)} and target {tuple(dst.shape)} differ in shape")
    mu_s, mu_d = src.mean(dim=1, keepdim=True), dst.mean(dim=1, keepdim=True)  # (B, 1, 3)
    xs, xd = src - mu_s, dst - mu_d  # (B, N, 3) centred
    var_s = (xs**2).sum(dim=(1, 2)).clamp_min(1e-30)  # (B,)
    cov = xd.transpose(1, 2) @ xs  # (B, 3, 3): sum_n xd_n xs_n^T
    u, sigma, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))  # -1 where the best orthogonal map is a reflection
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.ones_like(sigma)
    diag[:, -1] = d
    rotation = u @ torch.diag_embed(diag) @ vh  # (B, 3, 3)
    scale = (sigma * diag).sum(dim=1) / var_s  # (B,)
    translation = mu_d[:, 0] - scale[:, None] * (rotation @ mu_s[:, 0, :, None])[..., 0]  # (B, 3)
    return SimilarityTransform(scale=scale, rotation=rotation, translation=translation)


def procrustes_align(source: ArrayLike, target: ArrayLike) -> np.ndarray:
    """``source`` (B, N, 3) moved onto ``target`` by :func:`similarity_procrustes` -> (B, N, 3) numpy."""
    return similarity_procrustes(source, target).apply(source).cpu().numpy()


def point_errors_mm(pred_m: ArrayLike, gt_m: ArrayLike, align: bool = True) -> np.ndarray:
    """Per-point Euclidean errors (B, N) in mm, after Procrustes alignment of pred to gt if ``align``."""
    pred, gt = _as_tensor(pred_m), _as_tensor(gt_m).to(_as_tensor(pred_m).device)
    _check_points("pred", pred)
    _check_points("gt", gt)
    if align:
        pred = similarity_procrustes(pred, gt).apply(pred)
    return (1000.0 * torch.linalg.norm(pred - gt, dim=-1)).cpu().numpy()


def pa_mpjpe_mm(pred_joints_m: ArrayLike, gt_joints_m: ArrayLike) -> np.ndarray:
    """Procrustes-aligned mean per-joint position error, (B,) mm."""
    return point_errors_mm(pred_joints_m, gt_joints_m).mean(axis=1)


def pa_mpvpe_mm(pred_vertices_m: ArrayLike, gt_vertices_m: ArrayLike) -> np.ndarray:
    """Procrustes-aligned mean per-vertex position error, (B,) mm."""
    return point_errors_mm(pred_vertices_m, gt_vertices_m).mean(axis=1)


def f_score(
    pred_m: ArrayLike, gt_m: ArrayLike, threshold_mm: float, align: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F-score of two point sets at ``threshold_mm`` -> (f, precision, recall), each (B,).

    Nearest-neighbour distances, not correspondences (as FreiHAND's open3d-based evaluation):
    precision = share of predicted points closer than the threshold to some ground-truth point,
    recall = share of ground-truth points closer than the threshold to some predicted point.
    """
    pred, gt = _as_tensor(pred_m), _as_tensor(gt_m).to(_as_tensor(pred_m).device)
    _check_points("pred", pred)
    _check_points("gt", gt)
    if align:
        pred = similarity_procrustes(pred, gt).apply(pred)
    dist = torch.cdist(pred, gt) * 1000.0  # (B, Np, Ng) mm
    th = float(threshold_mm)
    precision = (dist.min(dim=2).values < th).double().mean(dim=1)
    recall = (dist.min(dim=1).values < th).double().mean(dim=1)
    denom = precision + recall
    f = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-30), torch.zeros_like(denom))
    return f.cpu().numpy(), precision.cpu().numpy(), recall.cpu().numpy()


def pck_curve(
    errors_mm: ArrayLike, thresholds_mm: ArrayLike = PCK_THRESHOLDS_MM, visible: ArrayLike | None = None
) -> np.ndarray:
    """PCK at each threshold: per joint the share of samples with error <= t, averaged over joints.

    ``errors_mm`` (S, J); ``visible`` optional (S, J) bool mask of the joints that count. A joint never
    visible is left out of the average. Returns (T,) values in [0, 1].
    """
    err = np.asarray(errors_mm.cpu() if isinstance(errors_mm, torch.Tensor) else errors_mm, dtype=np.float64)
    if err.ndim != 2:
        raise ValueError(f"errors_mm: expected (samples, joints), got shape {err.shape}")
    vis = np.ones_like(err, dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    thr = np.asarray(thresholds_mm, dtype=np.float64)
    hits = (err[None] <= thr[:, None, None]) & vis[None]  # (T, S, J)
    counts = vis.sum(axis=0)  # (J,)
    used = counts > 0
    per_joint = hits.sum(axis=1)[:, used] / counts[used]  # (T, J_used)
    return per_joint.mean(axis=1)


def auc(curve: ArrayLike, thresholds_mm: ArrayLike = PCK_THRESHOLDS_MM) -> float:
    """Area under a PCK curve, normalised by the threshold range (trapezoid rule) -> [0, 1]."""
    y = np.asarray(curve, dtype=np.float64)
    x = np.asarray(thresholds_mm, dtype=np.float64)
    if y.shape != x.shape or x.size < 2:
        raise ValueError(f"curve {y.shape} and thresholds {x.shape} must be equal 1-D with >= 2 values")
    area = float(np.sum((y[1:] + y[:-1]) * np.diff(x) / 2.0))
    return area / float(x[-1] - x[0])


@dataclass
class MeshEvaluator:
    """Accumulates per-sample results over a dataset and summarises them (FreiHAND protocol).

    ``add(pred_joints, gt_joints, pred_vertices, gt_vertices)``, all in metres, batched; vertices
    optional (then no PA-MPVPE / F-scores). ``summary()`` returns plain floats, keys:
    ``pa_mpjpe_mm``, ``pa_mpvpe_mm``, ``f@5mm``, ``f@15mm``, ``auc_joints``, ``auc_vertices``,
    ``num_samples``.
    """

    thresholds_mm: np.ndarray = field(default_factory=lambda: PCK_THRESHOLDS_MM.copy())
    f_thresholds_mm: tuple[float, ...] = F_SCORE_THRESHOLDS_MM
    _joint_err: list[np.ndarray] = field(default_factory=list)
    _vert_err: list[np.ndarray] = field(default_factory=list)
    _f: dict[float, list[np.ndarray]] = field(default_factory=dict)

    def add(
        self,
        pred_joints_m: ArrayLike,
        gt_joints_m: ArrayLike,
        pred_vertices_m: ArrayLike | None = None,
        gt_vertices_m: ArrayLike | None = None,
    ) -> None:
        self._joint_err.append(point_errors_mm(pred_joints_m, gt_joints_m))
        if pred_vertices_m is not None and gt_vertices_m is not None:
            pred_v, gt_v = _as_tensor(pred_vertices_m), _as_tensor(gt_vertices_m)
            aligned = similarity_procrustes(pred_v, gt_v).apply(pred_v)
            self._vert_err.append(point_errors_mm(aligned, gt_v, align=False))
            for th in self.f_thresholds_mm:
                self._f.setdefault(th, []).append(f_score(aligned, gt_v, th, align=False)[0])

    @property
    def num_samples(self) -> int:
        return int(sum(len(e) for e in self._joint_err))

    def summary(self) -> dict[str, Any]:
        if not self._joint_err:
            raise ValueError("MeshEvaluator.summary: no samples were added")
        joints = np.concatenate(self._joint_err)  # (S, 21)
        out: dict[str, Any] = {
            "num_samples": self.num_samples,
            "pa_mpjpe_mm": float(joints.mean()),
            "auc_joints": auc(pck_curve(joints, self.thresholds_mm), self.thresholds_mm),
        }
        if self._vert_err:
            verts = np.concatenate(self._vert_err)  # (S, 778)
            out["pa_mpvpe_mm"] = float(verts.mean())
            out["auc_vertices"] = auc(pck_curve(verts, self.thresholds_mm), self.thresholds_mm)
            for th, values in self._f.items():
                out[f"f@{th:g}mm"] = float(np.concatenate(values).mean())
        return out
