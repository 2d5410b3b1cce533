"""No non-finite number leaves the pipeline: results with NaN / inf anywhere are dropped and counted.

A NaN in one hand (a degenerate network output, a PnP that did not converge) would otherwise travel
into TF, PoseArrays and the tracker's filters, where it outlives the frame. :func:`drop_non_finite`
is called where results leave :meth:`fast_hamer_core.pipeline.HandReconstructor.reconstruct`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from fast_hamer_core.types import HandResult

log = logging.getLogger(__name__)

#: The numeric fields of a :class:`HandResult` that must be finite (None fields are skipped).
NUMERIC_FIELDS: tuple[str, ...] = (
    "score",
    "box",
    "keypoints_2d",
    "keypoints_3d",
    "joint_rotations",
    "cam_t",
    "vertices",
    "global_orient",
    "hand_pose",
    "global_orient_aa",
    "hand_pose_aa",
    "betas",
)


def non_finite_fields(result: HandResult) -> list[str]:
    """Names of ``result``'s numeric fields holding a NaN or an infinity (empty when all are finite)."""
    bad = []
    for name in NUMERIC_FIELDS:
        value = getattr(result, name)
        if value is None:
            continue
        try:
            finite = bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            bad.append(name)
    return bad


def drop_non_finite(results: Sequence[HandResult]) -> tuple[list[HandResult], int]:
    """``(kept, n_dropped)``: the results whose numbers are all finite (same order), and how many
    were dropped; each dropped hand is logged with the fields that were not finite."""
    kept = []
    for result in results:
        bad = non_finite_fields(result)
        if bad:
            log.warning("dropped a %s hand with non-finite %s", result.side, ", ".join(bad))
            continue
        kept.append(result)
    return kept, len(results) - len(kept)


__all__ = ["NUMERIC_FIELDS", "drop_non_finite", "non_finite_fields"]
