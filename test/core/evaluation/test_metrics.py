"""Metrics of the FreiHAND protocol against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fast_hamer_core.evaluation.metrics import (
    MeshEvaluator,
    auc,
    f_score,
    pa_mpjpe_mm,
    pa_mpvpe_mm,
    pck_curve,
    procrustes_align,
    similarity_procrustes,
)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_procrustes_of_similar_copy_is_exact_numpy_and_torch():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(3, 21, 3)) * 0.05
    rots = np.stack([_rotation(rng.normal(size=3), a) for a in (0.3, 2.0, 3.0)])
    scales = np.array([0.5, 1.7, 3.0])
    trans = rng.normal(size=(3, 3))
    moved = scales[:, None, None] * gt @ rots.transpose(0, 2, 1) + trans[:, None]
    np.testing.assert_allclose(procrustes_align(moved, gt), gt, atol=1e-12)
    assert pa_mpjpe_mm(moved, gt) == pytest.approx([0, 0, 0], abs=1e-9)
    # torch input (float32) gives the same, and the recovered transform is the inverse of ours
    t = similarity_procrustes(torch.from_numpy(moved).float(), torch.from_numpy(gt).float())
    np.testing.assert_allclose(t.scale.numpy(), 1 / scales, rtol=1e-5)
    np.testing.assert_allclose(t.inverse().apply(gt).numpy(), moved, atol=1e-5)


def test_procrustes_never_reflects():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(1, 30, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    t = similarity_procrustes(mirrored, gt)
    assert np.linalg.det(t.rotation.numpy()[0]) == pytest.approx(1.0)
    assert pa_mpjpe_mm(mirrored, gt)[0] > 100.0  # a mirror image cannot be aligned away


def test_known_offsets_give_known_pa_mpjpe():
    # Square in z=0 plus two points on the z axis; the square's corners move +-eps along z, alternating:
    # no translation, no rotation and a known scale (tr C / (tr C + 4 eps^2)) are the best alignment.
    eps = 0.004
    gt = np.array([[1, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0], [0, 0, 1], [0, 0, -1]], float) * 0.05
    delta = np.zeros_like(gt)
    delta[:4, 2] = [eps, -eps, eps, -eps]
    pred = gt + delta
    trace_c = (gt**2).sum()
    s = trace_c / (trace_c + 4 * eps**2)
    expected = np.linalg.norm(s * pred - gt, axis=1).mean() * 1000
    assert pa_mpjpe_mm(pred[None], gt[None])[0] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(4 * eps * 1000 / 6, rel=0.02)  # ~ eps on 4 of 6 points
    # a rigidly moved and scaled copy of that prediction has the same PA error
    r = _rotation(np.array([1.0, 2.0, 0.5]), 1.1)
    moved = 2.5 * pred @ r.T + np.array([0.3, -0.1, 0.7])
    assert pa_mpjpe_mm(moved[None], gt[None])[0] == pytest.approx(expected, rel=1e-9)
    assert pa_mpvpe_mm(moved[None], gt[None])[0] == pytest.approx(expected, rel=1e-9)


def test_f_scores_of_known_offsets():
    # 40 points on a 10 cm grid (nearest neighbour = own partner), offsets 3, 10 and 20 mm.
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(5), np.arange(2), indexing="ij"), -1).reshape(-1, 3)
    gt = grid * 0.1
    offsets_mm = np.array([3.0] * 20 + [10.0] * 10 + [20.0] * 10)
    direction = np.array([0.0, 0.0, 1.0])
    pred = gt + offsets_mm[:, None] / 1000 * direction
    f5, p5, r5 = f_score(pred[None], gt[None], 5.0, align=False)
    f15, p15, r15 = f_score(pred[None], gt[None], 15.0, align=False)
    assert (p5[0], r5[0], f5[0]) == pytest.approx((0.5, 0.5, 0.5))
    assert (p15[0], r15[0], f15[0]) == pytest.approx((0.75, 0.75, 0.75))
    # asymmetric: extra far-away predicted points lower precision only
    pred2 = np.concatenate([gt, gt[:10] + 1.0])
    f, p, r = f_score(pred2[None], gt[None], 5.0, align=False)
    assert (p[0], r[0]) == pytest.approx((40 / 50, 1.0))
    assert f[0] == pytest.approx(2 * 0.8 / 1.8)


def test_pck_curve_and_auc_hand_computed():
    thresholds = np.array([0.0, 10.0, 20.0])
    errors = np.array([[5.0, 15.0], [15.0, 25.0]])  # 2 samples x 2 joints
    curve = pck_curve(errors, thresholds)
    # joint 0: [0, .5, 1]; joint 1: [0, 0, .5] -> mean [0, .25, .75]
    np.testing.assert_allclose(curve, [0.0, 0.25, 0.75])
    # trapezoids: (0 + .25)/2*10 + (.25 + .75)/2*10 = 6.25, over the 20 mm range
    assert auc(curve, thresholds) == pytest.approx(6.25 / 20)
    assert auc(np.ones(100)) == pytest.approx(1.0)
    # an invisible joint is left out
    visible = np.array([[True, False], [True, False]])
    np.testing.assert_allclose(pck_curve(errors, thresholds, visible), [0.0, 0.5, 1.0])


def test_mesh_evaluator_summary():
    rng = np.random.default_rng(2)
    gt_j, gt_v = rng.normal(size=(4, 21, 3)) * 0.05, rng.normal(size=(4, 50, 3)) * 0.05
    ev = MeshEvaluator()
    ev.add(gt_j * 2 + 1, gt_j, gt_v * 0.5 - 1, gt_v)  # perfect up to similarity
    s = ev.summary()
    assert s["num_samples"] == 4
    assert s["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-8)
    assert s["pa_mpvpe_mm"] == pytest.approx(0, abs=1e-8)
    assert s["f@5mm"] == pytest.approx(1.0) and s["f@15mm"] == pytest.approx(1.0)
    assert s["auc_joints"] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="no samples"):
        MeshEvaluator().summary()
