"""Synthetic gloves for the ``gloved`` hard case: a hand's skin found in its box and recoloured.

These are *recoloured skin*, not real gloves: the hand keeps its own shape, outline, finger creases and
shading, and only its colour (and a little fine texture) changes. A real glove also changes the texture
(knit, rubber shine), the outline (thicker fingers, a cuff, wrinkles) and sometimes hides the finger
joints, so a detector that finds these copies may still miss real gloved hands; one that misses these
misses real ones too. They measure one thing: how much the detector relies on skin colour.

Per hand, inside its labelled box only (:func:`glove_mask`):

1. Skin pixels by a loose rule in YCrCb (:data:`SKIN_CR`, :data:`SKIN_CB`, :data:`SKIN_MIN_Y`), which
   takes the light to dark skin of the shared photos and rejects greys, whites, cream clothing (Cr under
   140) and saturated yellows (low Cb); reds, browns and wood may pass, and are left to steps 2-3;
2. narrowed to this hand's own tone: pixels whose (Cr, Cb) lie within :data:`TONE_SIGMAS` robust standard
   deviations of the rule's pixels in the box's central region (so a pale wall or a wooden table that
   passed the loose rule drops out);
3. cleaned by a morphological opening and closing (kernel :data:`MORPH_REL` of the box's shorter side),
   keeping only the connected components that reach the box's central region (:data:`CENTRE_REL`);
4. feathered (Gaussian blur of :data:`FEATHER_REL` of the box's shorter side) into a blend weight.

Limits, on purpose: any skin of the same tone that touches the hand inside its box (a face behind the
hand, the forearm) is gloved too, and skin outside the box never is, so a glove may end in a straight cut
at the box's edge. Only hands are gloved: faces and arms outside hand boxes keep their colour.

The recolouring (:func:`apply_glove`) keeps each pixel's relative luminance: the hand's luminance, from
its 2nd to 98th percentile, is mapped linearly onto the glove's luminance range (:class:`Glove`), so
shading and creases keep their order; then a little texture noise is added and the result blended in with
the feathered weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Loose skin rule in OpenCV's YCrCb (8-bit): Cr and Cb ranges, and the darkest luma taken.
SKIN_CR: tuple[int, int] = (140, 180)
SKIN_CB: tuple[int, int] = (77, 135)
SKIN_MIN_Y: int = 25
#: A pixel is this hand's skin if its (Cr, Cb) lies within this many robust standard deviations (at
#: least :data:`TONE_MIN_STD`) of the median tone of the rule's pixels in the central region.
TONE_SIGMAS: float = 3.0
TONE_MIN_STD: float = 4.0
#: Central region of the box (fraction of each side, centred) where a hand's skin must be.
CENTRE_REL: float = 0.5
#: Morphology kernel and feathering width, as fractions of the box's shorter side.
MORPH_REL: float = 0.04
FEATHER_REL: float = 0.015


@dataclass(frozen=True)
class Glove:
    """A glove colour: ``rgb`` at mid shading; ``luminance`` the range (multiples of ``rgb``) that the
    hand's darkest to brightest skin maps onto; ``texture`` the noise (std, fraction of the value)."""

    rgb: tuple[int, int, int]
    luminance: tuple[float, float] = (0.55, 1.15)
    texture: float = 0.03


#: Registry of glove colours: name -> glove.
GLOVES: dict[str, Glove] = {
    "blue_nitrile": Glove((55, 105, 205), (0.5, 1.2), 0.02),
    "purple_nitrile": Glove((110, 80, 175), (0.5, 1.2), 0.02),
    "black_work": Glove((38, 38, 42), (0.45, 2.2), 0.06),
    "grey_cotton": Glove((150, 150, 146), (0.5, 1.25), 0.05),
    "white_cotton": Glove((215, 215, 208), (0.55, 1.15), 0.04),
    "orange_rubber": Glove((230, 110, 30), (0.5, 1.1), 0.02),
    "yellow_rubber": Glove((235, 200, 45), (0.5, 1.08), 0.02),
}


def _box_px(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0 = (max(0, int(np.floor(v))) for v in box[:2])
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    return x0, y0, x1, y1


def skin_rule(rgb: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels of an RGB uint8 image inside the loose YCrCb skin rule."""
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1], ycrcb[..., 2]
    return (
        (y >= SKIN_MIN_Y) & (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    )


def glove_mask(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 blend weight in [0, 1] of the glove of the hand in ``box`` (xyxy pixels).

    Zero outside the box; steps in the module docstring. All zeros if the box holds no skin.
    """
    height, width = rgb.shape[:2]
    out = np.zeros((height, width), dtype=np.float32)
    x0, y0, x1, y1 = _box_px(box, width, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return out
    crop = rgb[y0:y1, x0:x1]
    h, w = crop.shape[:2]
    rule = skin_rule(crop)
    centre = np.zeros((h, w), dtype=bool)
    mx, my = round(w * (1 - CENTRE_REL) / 2), round(h * (1 - CENTRE_REL) / 2)
    centre[my : h - my, mx : w - mx] = True
    seed = rule & centre
    if seed.sum() < 16:
        return out
    crcb = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.float32)
    tone = np.median(crcb[seed], axis=0)  # (2,) this hand's Cr, Cb
    mad = np.median(np.abs(crcb[seed] - tone), axis=0) * 1.4826  # robust std per channel
    spread = np.maximum(mad, TONE_MIN_STD)
    skin = rule & (np.abs((crcb - tone) / spread).max(-1) <= TONE_SIGMAS)
    k = max(3, round(MORPH_REL * min(w, h)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    clean = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    clean = cv2.morphologyEx(clean, cv2.MORPH_CLOSE, kernel)
    count, labels = cv2.connectedComponents(clean, connectivity=8)
    keep = np.setdiff1d(np.unique(labels[centre & (clean > 0)]), [0])
    hand = np.isin(labels, keep).astype(np.float32)  # (h, w) 1 on the kept components
    if count <= 1 or not keep.size:
        return out
    sigma = max(0.8, FEATHER_REL * min(w, h))
    out[y0:y1, x0:x1] = np.clip(cv2.GaussianBlur(hand, (0, 0), sigma), 0.0, 1.0)
    return out


def luminance(rgb: np.ndarray) -> np.ndarray:
    """``(H, W)`` float64 Rec. 601 luma of an RGB image (the grey value used for shading)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def apply_glove(rgb: np.ndarray, weight: np.ndarray, glove: Glove, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` (uint8) with the pixels under ``weight`` (:func:`glove_mask`) recoloured to ``glove``.

    The luminance of the pixels with weight > 0.5, 2nd to 98th percentile, maps linearly onto
    ``glove.luminance`` x ``glove.rgb`` (order of shading kept), then texture noise, then a blend by
    ``weight``. Returns a new uint8 image.
    """
    inside = weight > 0.5
    if not inside.any():
        return rgb.copy()
    lum = luminance(rgb)
    lo, hi = np.percentile(lum[inside], [2.0, 98.0])
    rel = np.clip((lum - lo) / max(hi - lo, 1.0), 0.0, 1.0)  # (H, W) 0 darkest skin .. 1 brightest
    lo_gain, hi_gain = glove.luminance
    gain = lo_gain + (hi_gain - lo_gain) * rel
    fine = rng.normal(0.0, glove.texture, size=gain.shape)
    coarse = cv2.GaussianBlur(rng.normal(0.0, glove.texture, size=gain.shape), (0, 0), 2.0) * 2.0
    gain = gain * (1.0 + fine + coarse)
    gloved = np.asarray(glove.rgb, dtype=np.float64) * gain[..., None]  # (H, W, 3)
    alpha = weight[..., None].astype(np.float64)
    out = alpha * gloved + (1.0 - alpha) * rgb.astype(np.float64)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


__all__ = ["GLOVES", "Glove", "apply_glove", "glove_mask", "luminance", "skin_rule"]
