"""Hand box -> network crop, as HaMeR's demo does it (``ViTDetDataset``), without its full-image costs.

HaMeR's steps (hamer/datasets/vitdet_dataset.py, utils.py), reproduced here:

1. box from the hand keypoints (min/max of the confident ones) -> centre and ``scale = rescale * wh / 200``;
2. ``expand_to_aspect_ratio(scale * 200, (192, 256)).max()`` -> the side of a square box in pixels,
   which simplifies to ``rescale * max(h, w * 256 / 192)``;
3. affine warp of that square onto ``256 x 256`` (box centre -> crop centre ``(128, 128)``, bilinear,
   border constant 0); left hands are mirrored so the network always sees a right hand;
4. RGB, ImageNet mean/std.

Differences, on purpose: HaMeR Gaussian-blurs the *whole image* (sigma ``(d - 1) / 2``,
``d = box / 256 / 2``, when ``d > 1.1``) and copies / flips it once per hand; we warp straight from the
full image and blur only the region of interest the warp reads (plus a 4-sigma margin), which gives
the same crop (up to uint8 rounding) at a fraction of the cost for large images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from fast_hamer_core.geometry import ArrayLike

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

CROP_SIZE = 256
RESCALE_FACTOR = 2.0
BBOX_ASPECT = (192, 256)  # width : height of the ViT's input, HaMeR's BBOX_SHAPE


def read_rgb(path) -> np.ndarray:
    """An image file -> RGB uint8 (H, W, 3), EXIF orientation applied (as HaMeR's demo, ``cv2.imread``).

    Through :func:`fast_hamer_core.image_io.read_rgb`, the decoder the ROS node uses too: a truncated
    JPEG / PNG is refused (``ImageDecodeError``, a ValueError naming the file); FileNotFoundError when
    the file is missing."""
    from fast_hamer_core import image_io

    return image_io.read_rgb(path)


def box_from_keypoints(
    keypoints_2d: np.ndarray, confidence: np.ndarray | None = None, threshold: float = 0.5
) -> np.ndarray:
    """Tight box (4,) ``[x1, y1, x2, y2]`` px around the keypoints (21, 2) whose confidence > threshold
    (all of them when ``confidence`` is None), as HaMeR's demo builds hand boxes."""
    kp = np.asarray(keypoints_2d, dtype=np.float64).reshape(-1, 2)
    valid = np.isfinite(kp).all(-1)
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
        if conf.shape[0] != kp.shape[0]:
            raise ValueError(f"confidence has {conf.shape[0]} values for {kp.shape[0]} keypoints")
        valid &= conf > threshold
    if valid.sum() < 2:
        raise ValueError(
            f"box_from_keypoints: need >= 2 keypoints above confidence {threshold}, got {valid.sum()}"
        )
    pts = kp[valid]
    return np.concatenate([pts.min(0), pts.max(0)])


def hand_crop_box(
    box_xyxy: np.ndarray, rescale: float = RESCALE_FACTOR, aspect: tuple[float, float] = BBOX_ASPECT
) -> tuple[np.ndarray, float]:
    """HaMeR's crop square for a hand box: ``(center_px (2,), size_px)``.

    ``size = max(expand_to_aspect_ratio(rescale * (w, h), aspect))``: the box scaled by ``rescale``,
    grown to ``aspect`` (width:height, 192:256), then the longer side taken as the square's side.
    """
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
    center = (box[:2] + box[2:]) / 2.0
    w, h = rescale * (box[2:] - box[:2])
    if not (np.isfinite(box).all() and w >= 0 and h >= 0 and max(w, h) > 0):
        raise ValueError(
            f"hand_crop_box: degenerate box {box.tolist()} (need x2 >= x1, y2 >= y1, non-zero size)"
        )
    w_t, h_t = aspect
    # expand_to_aspect_ratio: grow the short side; the result is (max(w, h*w_t/h_t), max(h, w*h_t/w_t)).
    size = max(max(w, h * w_t / h_t), max(h, w * h_t / w_t))
    return center, float(size)


@dataclass(frozen=True)
class CropTransform:
    """Image pixels <-> crop pixels for one hand: a square of ``size_px`` around ``center_px`` scaled to
    ``out_size``; ``flip`` mirrors the crop horizontally (left hands, so the network sees a right hand).

    ``crop = k * (p - center) + out_size / 2`` with ``k = out_size / size_px`` and, when flipped, the x
    offset negated: ``u_c = k * (center_x - x) + out_size / 2`` (HaMeR flips the image and the centre,
    which is this). :meth:`image_to_crop` and :meth:`crop_to_image` are inverses. Pixel coordinates
    follow OpenCV (pixel i is centred at coordinate i).
    """

    center_px: np.ndarray
    size_px: float
    out_size: int = CROP_SIZE
    flip: bool = False
    _matrix: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        center = np.asarray(self.center_px, dtype=np.float64).reshape(2)
        object.__setattr__(self, "center_px", center)
        if not self.size_px > 0:
            raise ValueError(f"CropTransform: size_px must be > 0, got {self.size_px}")
        k = self.out_size / float(self.size_px)
        sx = -k if self.flip else k
        half = self.out_size / 2.0
        m = np.array([[sx, 0.0, half - sx * center[0]], [0.0, k, half - k * center[1]]])
        object.__setattr__(self, "_matrix", m)

    @classmethod
    def from_box(
        cls,
        box_xyxy: np.ndarray,
        flip: bool = False,
        out_size: int = CROP_SIZE,
        rescale: float = RESCALE_FACTOR,
    ) -> CropTransform:
        """HaMeR's crop for a hand box (see :func:`hand_crop_box`)."""
        center, size = hand_crop_box(box_xyxy, rescale)
        return cls(center, size, out_size, flip)

    @property
    def matrix(self) -> np.ndarray:
        """2x3 affine, image -> crop (what ``cv2.warpAffine`` takes). Inverse: :attr:`inverse_matrix`."""
        return self._matrix.copy()

    @property
    def inverse_matrix(self) -> np.ndarray:
        """2x3 affine, crop -> image."""
        return cv2.invertAffineTransform(self._matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per image pixel."""
        return self.out_size / float(self.size_px)

    def image_to_crop(self, points: ArrayLike) -> ArrayLike:
        """(..., 2) image pixels -> crop pixels. Inverse: :meth:`crop_to_image`."""
        return _affine(self._matrix, points)

    def crop_to_image(self, points: ArrayLike) -> ArrayLike:
        """(..., 2) crop pixels -> image pixels. Inverse of :meth:`image_to_crop`."""
        return _affine(self.inverse_matrix, points)

    def normalized_to_image(self, points: ArrayLike) -> ArrayLike:
        """(..., 2) HaMeR's normalised crop coordinates (``crop / out_size - 0.5``, in [-0.5, 0.5]) -> image
        pixels. The network's ``pred_keypoints_2d`` are in these units (mirrored for left hands)."""
        return self.crop_to_image((points + 0.5) * self.out_size)

    def image_to_normalized(self, points: ArrayLike) -> ArrayLike:
        """(..., 2) image pixels -> normalised crop coordinates. Inverse of :meth:`normalized_to_image`."""
        return self.image_to_crop(points) / self.out_size - 0.5


def _affine(m: np.ndarray, points: ArrayLike) -> ArrayLike:
    if isinstance(points, torch.Tensor):
        mt = torch.as_tensor(m, dtype=points.dtype, device=points.device)
        return points @ mt[:, :2].T + mt[:, 2]
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def crop_points_to_image(points_crop: ArrayLike, transforms: list[CropTransform]) -> ArrayLike:
    """Per-hand crop pixels (N, K, 2) -> image pixels (N, K, 2) with each hand's transform."""
    if len(transforms) != len(points_crop):
        raise ValueError(f"{len(points_crop)} hands of points but {len(transforms)} transforms")
    out = [t.crop_to_image(p) for t, p in zip(transforms, points_crop, strict=True)]
    if isinstance(points_crop, torch.Tensor):
        return torch.stack(out) if out else points_crop.clone()
    return np.stack(out) if out else np.zeros_like(np.asarray(points_crop, dtype=np.float64))


def antialias_sigma(size_px: float, out_size: int = CROP_SIZE) -> float:
    """HaMeR's Gaussian sigma before downsampling a box of ``size_px`` to ``out_size`` (0 = no blur):
    ``d = size / out / 2``; ``sigma = (d - 1) / 2`` when ``d > 1.1``."""
    d = size_px / out_size / 2.0
    return (d - 1.0) / 2.0 if d > 1.1 else 0.0


def warp_crop(image: np.ndarray, transform: CropTransform) -> np.ndarray:
    """One hand's crop (out, out, C) from the full image, bilinear, border 0, with HaMeR's anti-aliasing
    applied to the source region only (the part of the image the warp reads, plus a 4-sigma margin)."""
    h, w = image.shape[:2]
    out = transform.out_size
    sigma = antialias_sigma(transform.size_px, out)
    if sigma <= 0:
        return cv2.warpAffine(image, transform.matrix, (out, out), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    # Region the crop reads: the box's corners in the image, + bilinear footprint + blur support.
    corners = transform.crop_to_image(np.array([[0.0, 0.0], [out, 0.0], [0.0, out], [out, out]]))
    margin = int(np.ceil(4.0 * sigma)) + 2
    x0 = max(int(np.floor(corners[:, 0].min())) - margin, 0)
    y0 = max(int(np.floor(corners[:, 1].min())) - margin, 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + margin + 1, w)
    y1 = min(int(np.ceil(corners[:, 1].max())) + margin + 1, h)
    if x0 >= x1 or y0 >= y1:  # the box lies outside the image: all border
        return np.zeros((out, out, *image.shape[2:]), dtype=image.dtype)
    roi = image[y0:y1, x0:x1]
    # Same kernel as skimage.filters.gaussian (truncate 4 sigma, 'nearest' border at the image edges).
    ksize = 2 * int(np.ceil(4.0 * sigma)) + 1
    roi = cv2.GaussianBlur(roi, (ksize, ksize), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    m = transform.matrix
    m[:, 2] += m[:, :2] @ np.array([x0, y0], dtype=np.float64)  # the ROI's pixel (0,0) is image (x0,y0)
    # Pixels outside the image must read as 0, not the ROI's replicated edge: ROI borders inside the
    # image are covered by the margin, so BORDER_CONSTANT is right at the remaining (image) edges.
    return cv2.warpAffine(
        roi, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def crop_hands(
    image_rgb: np.ndarray,
    boxes: np.ndarray,
    is_right: np.ndarray,
    out_size: int = CROP_SIZE,
    rescale: float = RESCALE_FACTOR,
) -> tuple[np.ndarray, list[CropTransform]]:
    """Network crops for N hands: ``(crops (N, out, out, 3) uint8 RGB, transforms)``.

    ``boxes`` (N, 4) xyxy px (tight hand boxes, e.g. :func:`box_from_keypoints`), ``is_right`` (N,) bool.
    One affine warp per hand straight from ``image_rgb`` (H, W, 3) uint8; no full-image copy, flip or
    blur. Left hands come out mirrored (what HaMeR does by flipping the image and the centre).
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"crop_hands: image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    right = np.asarray(is_right, dtype=bool).reshape(-1)
    if right.shape[0] != boxes.shape[0]:
        raise ValueError(f"crop_hands: {boxes.shape[0]} boxes but {right.shape[0]} is_right flags")
    transforms = [
        CropTransform.from_box(b, flip=not r, out_size=out_size, rescale=rescale)
        for b, r in zip(boxes, right, strict=True)
    ]
    crops = np.zeros((len(transforms), out_size, out_size, 3), dtype=np.uint8)
    for i, t in enumerate(transforms):
        crops[i] = warp_crop(image, t)
    return crops, transforms


def normalize_crops(
    crops: np.ndarray,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """uint8 crops (N, H, W, 3) RGB -> float32 tensor (N, 3, H, W): ``(x / 255 - mean) / std``.

    (HaMeR writes ``(x - 255 mean) / (255 std)`` on 0..255 pixels: the same numbers.) With ``device``
    the uint8 data is moved first and converted there (4x less to transfer).
    """
    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"normalize_crops: expected (N, H, W, 3), got {arr.shape}")
    t = torch.from_numpy(np.ascontiguousarray(arr))
    if device is not None:
        t = t.to(device, non_blocking=True)
    t = t.permute(0, 3, 1, 2).float()  # (N, 3, H, W)
    m = torch.tensor(mean, dtype=torch.float32, device=t.device).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(std, dtype=torch.float32, device=t.device).view(1, 3, 1, 1) * 255.0
    return ((t - m) / s).contiguous()


def mirror_points_x(points: ArrayLike) -> ArrayLike:
    """Negate x of (..., D) points: the network's right-hand output (vertices, 3D joints in the
    MANO / camera frame) -> the left hand's. Its own inverse. (Also the crop camera's ``tx``: HaMeR
    negates ``pred_cam[:, 1]`` for left hands; rotations: :func:`fast_hamer_core.geometry.mirror_rotmat`.)
    """
    if isinstance(points, torch.Tensor):
        out = points.clone()
    else:
        out = np.array(points, dtype=np.float64 if np.asarray(points).dtype.kind in "iu" else None, copy=True)
    out[..., 0] = -out[..., 0]
    return out


def unmirror_cam(pred_cam: ArrayLike, is_right: ArrayLike) -> ArrayLike:
    """Crop cameras (B, 3) ``[s, tx, ty]`` predicted on (mirrored) crops -> the image's: ``tx`` negated
    where ``is_right`` is False (HaMeR: ``pred_cam[:, 1] *= 2 * right - 1``)."""
    if isinstance(pred_cam, torch.Tensor):
        sign = torch.as_tensor(is_right, device=pred_cam.device).to(pred_cam.dtype) * 2 - 1
        out = pred_cam.clone()
    else:
        sign = np.asarray(is_right, dtype=np.float64) * 2 - 1
        out = np.array(pred_cam, dtype=np.float64, copy=True)
    out[..., 1] = out[..., 1] * sign
    return out
