"""Is a camera calibration (K, D, its resolution) usable for an image? One check, with the reason.

A wrong K does not fail loudly: NaN or inf spreads into every 3D output, a K for another resolution
moves every hand to the wrong depth, a near-zero focal length makes PnP fail on every frame. So
calibrations are checked once, here, before anything uses them (the ROS node checks every CameraInfo;
plain values in, no ROS types).

:func:`check_camera` accepts a calibration when

- K has 9 finite numbers, zero skew and a last row ``0 0 1``;
- ``fx`` and ``fy`` are positive and sane for the image: between :data:`MIN_FOCAL_FRACTION` and
  :data:`MAX_FOCAL_FRACTION` times the larger image side (about a 169 degree to a 1 degree field of
  view) and ``fx / fy`` within :data:`MAX_FOCAL_RATIO` of 1;
- its resolution ``width x height`` is the image's, or the image's scaled with the same aspect
  ratio (a binned or resized stream: K is scaled); ``0 x 0`` means unknown and K is taken as the
  image's own (reported in ``note``); one of them 0 is refused;
- the principal point (after scaling) lies inside the image;
- D has finite values, and a model OpenCV knows (``plumb_bob`` / ``rational_polynomial`` or
  ``equidistant`` / ``fisheye``) whenever a coefficient is non-zero (all zero or empty: no distortion,
  any model name).

It returns a :class:`CameraCheck`: the :class:`~fast_hamer_core.geometry.PinholeCamera` for the image,
or the reason naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fast_hamer_core.geometry import FISHEYE_DISTORTION_MODELS, PINHOLE_DISTORTION_MODELS, PinholeCamera

#: Smallest / largest focal length as a fraction of the image's larger side.
MIN_FOCAL_FRACTION = 0.05
MAX_FOCAL_FRACTION = 50.0
#: Largest fx / fy (or fy / fx).
MAX_FOCAL_RATIO = 5.0
#: Largest relative difference of aspect ratios for a calibration to be scaled to the image.
ASPECT_TOLERANCE = 0.01
#: Coefficients OpenCV reads for each model family.
_MAX_COEFFICIENTS = {"pinhole": 14, "fisheye": 4}


@dataclass(frozen=True)
class CameraCheck:
    """The outcome of :func:`check_camera`: ``camera`` when usable, else ``reason``; ``note`` says
    what was assumed for a usable one (e.g. an unknown resolution)."""

    camera: PinholeCamera | None
    reason: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.camera is not None


def _refuse(reason: str) -> CameraCheck:
    return CameraCheck(None, reason)


def _check_distortion(d: Sequence[float], model: str) -> str | None:
    """None when D / model are usable, else the reason."""
    if not all(math.isfinite(v) for v in d):
        return f"D = {list(d)} has a non-finite coefficient"
    if not any(v != 0.0 for v in d):
        return None
    if model in PINHOLE_DISTORTION_MODELS:
        family = "pinhole"
    elif model in FISHEYE_DISTORTION_MODELS:
        family = "fisheye"
    else:
        known = ", ".join((*PINHOLE_DISTORTION_MODELS, *FISHEYE_DISTORTION_MODELS))
        return f"distortion_model {model!r} with non-zero D is not supported (one of: {known})"
    if len(d) > _MAX_COEFFICIENTS[family] and any(v != 0.0 for v in d[_MAX_COEFFICIENTS[family] :]):
        return f"D has {len(d)} coefficients; the {model} model uses at most {_MAX_COEFFICIENTS[family]}"
    return None


def check_camera(
    k: Sequence[float],
    image_width: int,
    image_height: int,
    calibration_width: int = 0,
    calibration_height: int = 0,
    distortion: Sequence[float] = (),
    distortion_model: str = "",
) -> CameraCheck:
    """Check a calibration (row-major 3x3 ``k``, D, the resolution it was made for) against an image of
    ``image_width`` x ``image_height`` pixels; see the module docstring for the rules."""
    try:
        values = [float(v) for v in k]
        d = [float(v) for v in distortion]
    except (TypeError, ValueError) as exc:
        return _refuse(f"K / D are not numbers ({exc})")
    if len(values) != 9:
        return _refuse(f"K has {len(values)} values, expected 9 (row-major 3x3)")
    names = ("fx", "K[0][1] (skew)", "cx", "K[1][0]", "fy", "cy", "K[2][0]", "K[2][1]", "K[2][2]")
    for name, value in zip(names, values, strict=True):
        if not math.isfinite(value):
            return _refuse(f"K has a non-finite {name} = {value}")
    fx, skew, cx, _, fy, cy = values[:6]
    if skew != 0.0 or values[3] != 0.0:
        return _refuse(f"K has skew (K[0][1] = {skew}, K[1][0] = {values[3]}); only zero skew is supported")
    if values[6:] != [0.0, 0.0, 1.0]:
        return _refuse(f"K's last row is {values[6:]}, expected [0, 0, 1]")
    if image_width <= 0 or image_height <= 0:
        return _refuse(f"image size {image_width}x{image_height} is empty")

    note = None
    cw, ch = int(calibration_width), int(calibration_height)
    if cw == 0 and ch == 0:
        cw, ch = image_width, image_height
        note = f"CameraInfo width/height are 0 (unknown): K is taken as the {cw}x{ch} image's"
    elif cw <= 0 or ch <= 0:
        return _refuse(f"calibration size width={cw}, height={ch}: both must be > 0 (or both 0, unknown)")
    elif (cw, ch) != (image_width, image_height):
        aspect, image_aspect = cw / ch, image_width / image_height
        if abs(aspect / image_aspect - 1.0) > ASPECT_TOLERANCE:
            return _refuse(
                f"calibration is for {cw}x{ch} but the image is {image_width}x{image_height}, another "
                "aspect ratio (a crop, not a resize): K cannot be scaled to it"
            )

    for name, value in (("fx", fx), ("fy", fy)):
        if value <= 0.0:
            return _refuse(f"{name} = {value} is not positive")
    larger = max(cw, ch)
    for name, value in (("fx", fx), ("fy", fy)):
        if not MIN_FOCAL_FRACTION * larger <= value <= MAX_FOCAL_FRACTION * larger:
            return _refuse(
                f"{name} = {value:g} px is not a sane focal length for a {cw}x{ch} calibration "
                f"(expected {MIN_FOCAL_FRACTION:g}..{MAX_FOCAL_FRACTION:g} x {larger} px)"
            )
    if max(fx / fy, fy / fx) > MAX_FOCAL_RATIO:
        return _refuse(f"fx / fy = {fx / fy:.3g} is not within 1/{MAX_FOCAL_RATIO:g}..{MAX_FOCAL_RATIO:g}")
    if not (0.0 <= cx <= cw and 0.0 <= cy <= ch):
        return _refuse(f"principal point (cx, cy) = ({cx:g}, {cy:g}) is outside the {cw}x{ch} image")
    reason = _check_distortion(d, str(distortion_model))
    if reason is not None:
        return _refuse(reason)
    camera = PinholeCamera.from_k(values, cw, ch, distortion=d, distortion_model=str(distortion_model))
    if (cw, ch) != (image_width, image_height):
        camera = camera.scaled_to(image_width, image_height)
    return CameraCheck(camera, None, note)


__all__ = ["CameraCheck", "check_camera"]
