"""Which camera a frame is seen through: the newest CameraInfo, checked, or the configured fallback.

The node hands every CameraInfo to :meth:`CameraInfoState.update` (executor thread) and asks
:meth:`CameraInfoState.camera_for` for each frame (worker thread). The check itself is the core's
:func:`fast_hamer_core.camera_check.check_camera` (K and D, or P for a rectified image); this class
keeps the state around it and says what happened in the log:

- no CameraInfo yet: the assumed camera (``focal_length_px``), warned once;
- a refused CameraInfo: a warning naming the field (again every ``period_s`` while it lasts, at once when
  the reason changes), and the ``fallback``: ``"last_valid"`` (the last valid camera, scaled to the
  frame; ``focal_length_px`` before any), ``"focal_length_px"``, or ``"skip_frames"`` (no camera);
- back to valid: one info line;
- a usable CameraInfo with a note (size 0x0 taken as the image's): warned once.

Messages are duck-typed (``k``, ``d``, ``p``, ``distortion_model``, ``width``, ``height``): no ROS import.
"""

from __future__ import annotations

import threading
from typing import Any

from fast_hamer_core.camera_check import CameraCheck, check_camera
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_ros.worker import ReasonThrottle

#: Values of the node's ``camera_info_fallback`` parameter.
FALLBACKS: tuple[str, ...] = ("last_valid", "focal_length_px", "skip_frames")


def check_camera_info(info: Any, width: int, height: int, rectified: bool = False) -> CameraCheck:
    """The core's check of a CameraInfo for a ``width`` x ``height`` image: K and D of a raw image, or
    with ``rectified`` the intrinsics of P (D ignored; the reason then starts with ``P``)."""
    if not rectified:
        return check_camera(info.k, width, height, info.width, info.height, info.d, info.distortion_model)
    proj = list(info.p)
    k = [*proj[0:3], *proj[4:7], *proj[8:11]] if len(proj) == 12 else proj
    check = check_camera(k, width, height, info.width, info.height)
    return check if check.ok else CameraCheck(None, f"P (image_rectified): {check.reason}")


class CameraInfoState:
    """The newest CameraInfo, its check, the last valid camera and what was logged (module docstring)."""

    def __init__(self, logger, topic: str, period_s: float = 5.0) -> None:
        self._logger = logger
        self.topic = topic
        self._lock = threading.Lock()
        self._info: Any = None
        self._cache: tuple[Any, int, int, bool, CameraCheck] | None = None  # (msg, w, h, rectified, check)
        self._refusal: str | None = None
        self._last_valid: PinholeCamera | None = None
        self._warned_no_info = False
        self._warned_notes: set[str] = set()
        self._throttle = ReasonThrottle(period_s)

    # ------------------------------------------------------------------ accessors
    @property
    def received(self) -> bool:
        """Whether any CameraInfo has arrived."""
        return self._info is not None

    @property
    def refusal(self) -> str | None:
        """Why the newest CameraInfo is refused; None when it is valid (or none has arrived)."""
        return self._refusal

    def update(self, info: Any) -> None:
        """Store the newest CameraInfo (checked when a frame needs it: the check needs the image size)."""
        with self._lock:
            self._info = info

    # ------------------------------------------------------------------ per frame
    def _check(self, info: Any, width: int, height: int, rectified: bool) -> CameraCheck:
        cached = self._cache
        if cached is not None and cached[0] is info and cached[1:4] == (width, height, rectified):
            return cached[4]
        check = check_camera_info(info, width, height, rectified)
        self._cache = (info, width, height, rectified, check)
        return check

    def _log_state(self, check: CameraCheck, fallback: str) -> None:
        if check.ok:
            if self._refusal is not None:
                cam = check.camera
                self._logger.info(
                    f"CameraInfo on {self.topic} valid again: fx={cam.fx:.1f} fy={cam.fy:.1f} "
                    f"cx={cam.cx:.1f} cy={cam.cy:.1f}"
                )
            self._refusal = None
            if check.note and check.note not in self._warned_notes:
                self._warned_notes.add(check.note)
                self._logger.warning(f"CameraInfo on {self.topic}: {check.note}")
            return
        changed = check.reason != self._refusal
        self._refusal = check.reason
        allowed = self._throttle.allow(check.reason)  # always: it restarts the period
        if changed or allowed:
            self._logger.warning(
                f"CameraInfo on {self.topic} refused: {check.reason}; camera_info_fallback={fallback}"
            )

    def camera_for(
        self, width: int, height: int, focal_length_px: float, fallback: str, rectified: bool = False
    ) -> PinholeCamera | None:
        """The camera of a ``width`` x ``height`` frame; None when the frame must be skipped (a refused
        CameraInfo with ``fallback="skip_frames"``; :attr:`refusal` says why)."""
        if fallback not in FALLBACKS:
            raise ValueError(f"camera_info_fallback must be one of {FALLBACKS}, got {fallback!r}")
        with self._lock:
            info = self._info
        if info is None:
            cam = PinholeCamera.assumed(width, height, focal_length_px)
            if not self._warned_no_info:
                self._warned_no_info = True
                self._logger.warning(
                    f"no CameraInfo received on {self.topic}: using focal_length_px={cam.fx:.1f} with the "
                    "principal point at the image centre; metric depth will be approximate"
                )
            return cam
        check = self._check(info, width, height, rectified)
        self._log_state(check, fallback)
        if check.ok:
            self._last_valid = check.camera
            return check.camera
        if fallback == "skip_frames":
            return None
        last = self._last_valid
        if fallback == "last_valid" and last is not None:
            return last if (last.width, last.height) == (width, height) else last.scaled_to(width, height)
        return PinholeCamera.assumed(width, height, focal_length_px)


__all__ = ["FALLBACKS", "CameraInfoState", "check_camera_info"]
