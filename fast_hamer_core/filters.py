"""One-Euro filters (Casiez et al., CHI 2012) for the tracker's temporal smoothing: points in metres and
rotations on SO(3).

:class:`OneEuroFilter` smooths an array of points with one cutoff from their speed (so points filtered
together stay consistent); :class:`RotationOneEuroFilter` smooths a stack of rotation matrices in the
tangent space at the previous estimate (log/exp maps), so the output stays a rotation and goes the short
way across pi. :class:`OneEuroConfig` holds the parameters and builds both. Times are seconds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass with ``cutoff_hz`` sampled every ``dt_s`` seconds."""
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


SPEED_MODES: tuple[str, ...] = ("elementwise", "mean_norm")


class _OneEuroBase(ABC):
    """The parameters every One-Euro filter takes (checked), and ``reset()`` (subclasses) at construction."""

    def __init__(
        self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0, speed: str = "elementwise"
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0:
            raise ValueError(f"cutoffs must be > 0 Hz, got min_cutoff={min_cutoff}, d_cutoff={d_cutoff}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if speed not in SPEED_MODES:
            raise ValueError(f"speed must be one of {SPEED_MODES}, got {speed!r}")
        self.min_cutoff, self.beta, self.d_cutoff, self.speed = min_cutoff, beta, d_cutoff, speed
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget the past (subclasses)."""


class OneEuroFilter(_OneEuroBase):
    """One-Euro filter (Casiez et al., CHI 2012) of a scalar or an array sampled at irregular times.

    ``cutoff = min_cutoff + beta * |speed|`` (Hz), with ``speed`` the low-passed (``d_cutoff``) rate of
    change in units per second. ``speed="elementwise"`` gives every element its own cutoff (classic);
    ``"mean_norm"`` treats the last axis as a vector and uses one cutoff for the whole array from the
    mean vector speed (so all elements are smoothed alike). A stamp equal to the last one returns the
    last estimate; a stamp going back in time restarts the filter.
    """

    def reset(self) -> None:
        """Forget the past; the next sample passes through unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @property
    def value(self) -> np.ndarray | None:
        """The last filtered value (``None`` before the first sample)."""
        return self._x

    def __call__(self, x: np.ndarray | float, stamp_s: float) -> np.ndarray | float:
        scalar = np.ndim(x) == 0
        x = np.array(x, dtype=np.float64)
        if self._x is None or self._t is None or stamp_s < self._t or self._x.shape != x.shape:
            self._x, self._dx, self._t = x, np.zeros_like(x), float(stamp_s)
            return float(x) if scalar else x.copy()
        dt = float(stamp_s) - self._t
        if dt > 0:
            dx = (x - self._x) / dt
            self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
            if self.speed == "mean_norm" and x.ndim > 0:
                speed = float(np.mean(np.linalg.norm(self._dx.reshape(-1, x.shape[-1]), axis=-1)))
            else:
                speed = np.abs(self._dx)
            cutoff = self.min_cutoff + self.beta * speed
            self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
            self._t = float(stamp_s)
        return float(self._x) if scalar else self._x.copy()


class RotationOneEuroFilter(_OneEuroBase):
    """One-Euro filter on rotations (..., 3, 3), computed on the manifold SO(3).

    Each step takes the residual ``log(R_prev^T R)`` (a rotation vector in the tangent space at the
    previous estimate), low-passes the angular velocity with ``d_cutoff``, picks
    ``cutoff = min_cutoff + beta * |angular speed|`` (Hz per rad/s) and moves
    ``R_prev @ exp(alpha * residual)``: the output is always an exact rotation (det 1, orthonormal).
    Inputs are projected onto SO(3) first. ``speed`` as in :class:`OneEuroFilter` (per rotation or one
    shared cutoff from the mean angular speed).
    """

    def reset(self) -> None:
        """Forget the past; the next sample passes through (projected onto SO(3))."""
        self._rot: Rotation | None = None
        self._omega: np.ndarray | None = None
        self._t: float | None = None
        self._shape: tuple[int, ...] | None = None

    def __call__(self, rotations: np.ndarray, stamp_s: float) -> np.ndarray:
        rotations = np.asarray(rotations, dtype=np.float64)
        if rotations.shape[-2:] != (3, 3):
            raise ValueError(f"rotations must have shape (..., 3, 3), got {rotations.shape}")
        shape = rotations.shape
        current = Rotation.from_matrix(rotations.reshape(-1, 3, 3))  # projects onto SO(3)
        if self._rot is None or self._t is None or stamp_s < self._t or self._shape != shape:
            self._rot, self._omega = current, np.zeros((len(current), 3))  # (M, 3) rad/s
            self._t, self._shape = float(stamp_s), shape
            return current.as_matrix().reshape(shape)
        dt = float(stamp_s) - self._t
        if dt > 0:
            residual = (self._rot.inv() * current).as_rotvec()  # (M, 3) rad, tangent at the estimate
            self._omega = self._omega + _alpha(self.d_cutoff, dt) * (residual / dt - self._omega)
            speed = np.linalg.norm(self._omega, axis=-1)  # (M,) rad/s
            if self.speed == "mean_norm":
                speed = np.full_like(speed, speed.mean())
            alpha = _alpha(self.min_cutoff + self.beta * speed, dt)  # (M,)
            self._rot = self._rot * Rotation.from_rotvec(alpha[:, None] * residual)
            self._t = float(stamp_s)
        return self._rot.as_matrix().reshape(shape)


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro parameters of the tracker's smoothing.

    ``min_cutoff`` (Hz) sets the smoothing at rest (lower: smoother, more lag); ``beta`` (Hz per m/s)
    raises the cutoff with the hand's speed (higher: less lag when moving); ``d_cutoff`` (Hz) smooths the
    speed estimate. ``beta_rotation`` (Hz per rad/s) and ``min_cutoff_rotation`` (Hz, default
    ``min_cutoff``) are the same for rotations.
    """

    min_cutoff: float = 1.0
    beta: float = 10.0
    d_cutoff: float = 1.0
    beta_rotation: float = 1.0
    min_cutoff_rotation: float | None = None

    def point_filter(self) -> OneEuroFilter:
        return OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff, speed="mean_norm")

    def rotation_filter(self) -> RotationOneEuroFilter:
        min_cutoff = self.min_cutoff if self.min_cutoff_rotation is None else self.min_cutoff_rotation
        return RotationOneEuroFilter(min_cutoff, self.beta_rotation, self.d_cutoff, speed="mean_norm")
