"""Hard copies of labelled photos for the detector: small, tiny, close-up, occluded, dark, gloved hands.

Each *maker* takes one photo (RGB uint8) with its labels
(:class:`~fast_hamer_core.evaluation.hand_labels.LabelledImage`) and returns new ``(image, labels)`` pairs
whose labels went through exactly the same geometric change:

- ``small`` / ``tiny``: the photo shrunk so that its largest hand takes :data:`SMALL_TARGET_REL` /
  :data:`TINY_TARGET_REL` of the longer side, pasted at a random place on a canvas of the original size
  (flat mean colour with mild noise, so that the canvas holds no hand of its own);
- ``close_up``: one tight crop per hand (the hand's longer side :data:`CLOSE_UP_FILL` of the crop's),
  resized to :data:`CLOSE_UP_SIDE_PX`; hands needing more than :data:`CLOSE_UP_MAX_UPSCALE` times
  upsampling are skipped (they would be a blur, not a close-up);
- ``occluded``: every hand gets one occluder (a rectangle or disc, a flat colour of an everyday object
  with shading and noise, or a patch of the same photo away from every hand) covering
  :data:`OCCLUDER_AREA` of its box;
- ``dark`` (darkened: gamma and gain, sensor noise) and ``low_contrast`` (pulled towards the mean
  grey), both labelled ``low_light``.

- ``at_border``: one square crop per hand whose border cuts off :data:`BORDER_CUT` of the hand's box on
  one side (drawn: bottom, top, left or right), the hand :data:`BORDER_FILL` of the crop, resized to
  :data:`CLOSE_UP_SIDE_PX`: a hand reaching into view, as a robot's or a first-person camera sees it
  (the scoring labels it ``at_border`` from its box);
- ``no_hands``: :data:`NO_HANDS_CROPS` square crops per photo that show no hand (each at least
  :data:`NO_HANDS_MARGIN` of a hand's size away from every labelled hand's box, ignored ones too), of
  :data:`NO_HANDS_SIDE` of the shorter side, resized to :data:`CLOSE_UP_SIDE_PX`: faces, hair, clothes,
  furniture and objects seen up close, for false hands (their labels list no hand; every detection
  there counts against precision);
- ``gloved``: :data:`GLOVE_COPIES` copies, each in its own glove colour (:data:`gloves.GLOVES
  <fast_hamer_core.evaluation.gloves.GLOVES>`, drawn without repeats), where every hand's skin inside its
  box is recoloured with its shading kept (:mod:`~fast_hamer_core.evaluation.gloves`: synthetic gloves,
  recoloured skin, not real ones). A hand whose skin mask covers less than :data:`GLOVE_MIN_FILL` of its
  box is left as it is and labelled without ``gloved``; a photo with no such hand gives no copy.

Labels: boxes are mapped with the same scale and offset as the pixels and clipped to the new image. A
hand cut by a crop keeps its clipped box if at least :data:`KEEP_VISIBLE` of its area stays in view,
is marked ``ignore`` if less (a detection on what is left is then neither right nor wrong), and is
dropped when nothing of it is left. Written box kinds (``small``, ``tiny``, ``close_up``, ``at_border``) are
dropped,
since the scoring computes them again from the new box, and so is ``several_people`` in close-up crops;
other kinds are kept and the maker's kind (``occluded``, ``low_light``, ``gloved``) is added.

Everything is deterministic for a given seed: each photo and maker draws from its own generator seeded
with ``(seed, crc32(file name), maker index)``, so adding photos does not change the other copies.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from fast_hamer_core.evaluation import gloves
from fast_hamer_core.evaluation.hand_labels import LabelledHand, LabelledImage, save_labels

#: Largest hand's longer side over the canvas' longer side after shrinking.
SMALL_TARGET_REL: float = 0.07
TINY_TARGET_REL: float = 0.035
#: Close-up crops: the hand's longer side over the crop's, and the crop's output size.
CLOSE_UP_FILL: float = 0.75
CLOSE_UP_SIDE_PX: int = 512
CLOSE_UP_MAX_UPSCALE: float = 4.0
#: Hands at the border: the hand's longer side over the crop's, and the share of its box the border cuts.
BORDER_FILL: float = 0.45
BORDER_CUT: tuple[float, float] = (0.2, 0.35)
#: Hand-free crops: how many per photo, their side over the photo's shorter side (drawn in this range),
#: and the margin around every hand's box (a fraction of its longer side) they keep clear of.
NO_HANDS_CROPS: int = 6
NO_HANDS_SIDE: tuple[float, float] = (0.25, 0.6)
NO_HANDS_MARGIN: float = 0.3
#: Fraction of a hand's box covered by its occluder (drawn uniformly in this range).
OCCLUDER_AREA: tuple[float, float] = (0.25, 0.4)
#: A hand cut by a crop is kept if this fraction of its box area stays in the image, else ignored.
KEEP_VISIBLE: float = 0.6
#: Gloved copies per photo (each a different glove colour), and the least fraction of a hand's box its
#: skin mask must cover for the hand to be gloved.
GLOVE_COPIES: int = 2
GLOVE_MIN_FILL: float = 0.15
#: Kinds that the scoring derives from the box (dropped from transformed labels).
BOX_KINDS: frozenset[str] = frozenset({"small", "tiny", "close_up", "at_border"})
#: Colours (RGB) of everyday occluders: mug white, phone black, wood, cardboard, blue, red, green, steel.
OCCLUDER_COLOURS: tuple[tuple[int, int, int], ...] = (
    (235, 235, 228),
    (25, 25, 28),
    (140, 95, 55),
    (190, 160, 115),
    (40, 80, 170),
    (180, 35, 35),
    (60, 130, 70),
    (160, 165, 170),
)


@dataclass
class HardCase:
    """One generated image (RGB uint8) and its labels (``labels.file`` is the name to write it under)."""

    image: np.ndarray
    labels: LabelledImage
    maker: str = ""  #: name of the maker that made it (:data:`MAKERS`)


# -------------------------------------------------------------------------------------------- labels
def place_labels(
    image: LabelledImage,
    boxes: Sequence[np.ndarray],
    width: int,
    height: int,
    file: str,
    add_kinds: frozenset[str] = frozenset(),
    drop_kinds: frozenset[str] = BOX_KINDS,
) -> LabelledImage:
    """``image``'s labels with hand ``i``'s box moved to ``boxes[i]`` (xyxy pixels of a ``width x height``
    frame), the module's rules applied.

    Boxes are clipped to the frame; cut hands are kept, ignored or dropped (module docstring). Written
    kinds in ``drop_kinds`` are removed (hand and image), ``add_kinds`` added to every hand.
    """
    hands = []
    frame = np.array([0.0, 0.0, float(width), float(height)])
    for hand, box in zip(image.hands, boxes, strict=True):
        box = np.asarray(box, dtype=np.float64)
        clipped = np.concatenate([np.maximum(box[:2], frame[:2]), np.minimum(box[2:], frame[2:])])
        inside = np.prod(np.clip(clipped[2:] - clipped[:2], 0.0, None))
        area = np.prod(box[2:] - box[:2])
        if inside <= 0.0:
            continue
        kinds = (hand.kinds - drop_kinds) | add_kinds
        ignore = bool(hand.ignore or inside < KEEP_VISIBLE * area)
        hands.append(LabelledHand(box=clipped, side=hand.side, kinds=kinds, ignore=ignore))
    return LabelledImage(
        file=file, width=int(width), height=int(height), hands=hands, kinds=image.kinds - drop_kinds
    )


def map_labels(
    image: LabelledImage,
    scale: float,
    offset_px: tuple[float, float],
    width: int,
    height: int,
    file: str,
    add_kinds: frozenset[str] = frozenset(),
    drop_kinds: frozenset[str] = BOX_KINDS,
) -> LabelledImage:
    """Labels of ``image`` after ``x' = x * scale + offset_x`` (same for y), in a ``width x height`` frame
    (:func:`place_labels`)."""
    offset = np.tile(np.asarray(offset_px, dtype=np.float64), 2)
    boxes = [hand.box * scale + offset for hand in image.hands]
    return place_labels(image, boxes, width, height, file, add_kinds, drop_kinds)


def _name(image: LabelledImage, maker: str, index: int | str | None = None) -> str:
    stem = Path(image.file).stem
    return f"{stem}__{maker}{'' if index is None else f'_{index}'}.jpg"


def _counted(image: LabelledImage) -> list[LabelledHand]:
    return [hand for hand in image.hands if not hand.ignore]


# -------------------------------------------------------------------------------------------- makers
def _shrink(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator, target_rel: float, name: str):
    hands = _counted(image)
    if not hands:
        return []
    longest = max(float(np.max(h.box[2:] - h.box[:2])) for h in hands)
    scale = min(1.0, target_rel * max(image.width, image.height) / longest)
    new_w, new_h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    small = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    mean = rgb.reshape(-1, 3).mean(0)
    canvas = mean + rng.normal(0.0, 6.0, size=rgb.shape)  # (H, W, 3) flat colour with sensor-like noise
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    x0 = int(rng.integers(0, image.width - new_w + 1))
    y0 = int(rng.integers(0, image.height - new_h + 1))
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = small
    sx, sy = new_w / image.width, new_h / image.height  # equal up to rounding; boxes use their mean
    labels = map_labels(image, 0.5 * (sx + sy), (x0, y0), image.width, image.height, _name(image, name))
    return [HardCase(canvas, labels)]


def make_small(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """The photo shrunk onto a canvas of its own size: largest hand at :data:`SMALL_TARGET_REL`."""
    return _shrink(rgb, image, rng, SMALL_TARGET_REL, "small")


def make_tiny(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """As :func:`make_small`, largest hand at :data:`TINY_TARGET_REL`."""
    return _shrink(rgb, image, rng, TINY_TARGET_REL, "tiny")


def make_close_up(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """One square crop per hand, the hand :data:`CLOSE_UP_FILL` of it, resized to :data:`CLOSE_UP_SIDE_PX`."""
    cases = []
    for index, hand in enumerate(image.hands):
        if hand.ignore:
            continue
        hand_side = float(np.max(hand.box[2:] - hand.box[:2]))
        side = min(hand_side / CLOSE_UP_FILL, float(min(image.width, image.height)))
        if CLOSE_UP_SIDE_PX / side > CLOSE_UP_MAX_UPSCALE:
            continue
        size = int(side)  # the crop is size x size pixels, inside the image
        centre = 0.5 * (hand.box[:2] + hand.box[2:]) + rng.uniform(-0.05, 0.05, size=2) * hand_side
        corner = np.clip(np.round(centre - size / 2), 0, [image.width - size, image.height - size])
        x0, y0 = int(corner[0]), int(corner[1])
        cases.append(_square_crop(rgb, image, x0, y0, size, _name(image, "close_up", index), cv2.INTER_CUBIC))
    return cases


def _square_crop(
    rgb: np.ndarray, image: LabelledImage, left: int, top: int, size: int, file: str, interpolation: int
) -> HardCase:
    """The ``size`` x ``size`` crop at (``left``, ``top``) (inside the image), resized to
    :data:`CLOSE_UP_SIDE_PX`, with its labels; ``several_people`` is dropped (a crop around one hand
    shows one person)."""
    crop = rgb[top : top + size, left : left + size]
    scale = CLOSE_UP_SIDE_PX / size
    out = cv2.resize(crop, (CLOSE_UP_SIDE_PX, CLOSE_UP_SIDE_PX), interpolation=interpolation)
    offset, side = (-left * scale, -top * scale), CLOSE_UP_SIDE_PX
    labels = map_labels(image, scale, offset, side, side, file, drop_kinds=BOX_KINDS | {"several_people"})
    return HardCase(out, labels)


def make_at_border(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """One square crop per hand, the hand :data:`BORDER_FILL` of it, whose border cuts :data:`BORDER_CUT` of
    the hand's box off on a side drawn at random; hands whose crop does not fit in the photo are skipped."""
    cases = []
    for index, hand in enumerate(image.hands):
        if hand.ignore:
            continue
        x0, y0, x1, y1 = (float(v) for v in hand.box)
        bw, bh = x1 - x0, y1 - y0
        size = int(min(max(bw, bh) / BORDER_FILL, min(image.width, image.height)))
        if CLOSE_UP_SIDE_PX / size > CLOSE_UP_MAX_UPSCALE:
            continue
        side = int(rng.integers(4))  # the crop's border that cuts the hand: 0 bottom, 1 top, 2 left, 3 right
        cut = rng.uniform(*BORDER_CUT)
        cx = 0.5 * (x0 + x1) + rng.uniform(-0.1, 0.1) * bw  # centred on the hand along the border
        cy = 0.5 * (y0 + y1) + rng.uniform(-0.1, 0.1) * bh
        left, top = cx - size / 2, cy - size / 2
        if side == 0:
            top = y1 - cut * bh - size
        elif side == 1:
            top = y0 + cut * bh
        elif side == 2:
            left = x0 + cut * bw
        else:
            left = x1 - cut * bw - size
        left, top = round(left), round(top)
        if left < 0 or top < 0 or left + size > image.width or top + size > image.height:
            continue
        shrink = cv2.INTER_AREA if size > CLOSE_UP_SIDE_PX else cv2.INTER_CUBIC
        cases.append(_square_crop(rgb, image, left, top, size, _name(image, "at_border", index), shrink))
    return cases


def _clear_of(boxes: np.ndarray, left: float, top: float, w: float, h: float) -> bool:
    """Whether the ``w x h`` window at (``left``, ``top``) overlaps none of the xyxy ``boxes`` (N, 4)."""
    right_or_left = (boxes[:, 0] >= left + w) | (boxes[:, 2] <= left)  # (N,)
    below_or_above = (boxes[:, 1] >= top + h) | (boxes[:, 3] <= top)  # (N,)
    apart = right_or_left | below_or_above
    return bool(apart.all())


def _background_patch(rgb: np.ndarray, image: LabelledImage, w: int, h: int, rng: np.random.Generator):
    """A ``h x w`` patch of ``rgb`` overlapping no labelled hand (``None`` after 50 tries)."""
    boxes = np.array([hand.box for hand in image.hands]).reshape(-1, 4)
    for _ in range(50):
        x0 = int(rng.integers(0, max(1, image.width - w)))
        y0 = int(rng.integers(0, max(1, image.height - h)))
        if _clear_of(boxes, x0, y0, w, h):
            return rgb[y0 : y0 + h, x0 : x0 + w]
    return None


def _occluder_texture(rgb, image, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """``(h, w, 3)`` float pixels of an occluder: a background patch, or a shaded everyday colour."""
    if rng.random() < 0.4:
        patch = _background_patch(rgb, image, w, h, rng)
        if patch is not None and patch.shape[:2] == (h, w):
            return patch.astype(np.float64)
    colour = np.array(OCCLUDER_COLOURS[int(rng.integers(len(OCCLUDER_COLOURS)))], dtype=np.float64)
    ramp = (
        np.linspace(0.8, 1.1, w)[None, :, None]
        if rng.random() < 0.5
        else np.linspace(0.8, 1.1, h)[:, None, None]
    )
    return colour * ramp + rng.normal(0.0, 5.0, size=(h, w, 3))


def make_occluded(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """Every hand covered in part by one occluder (rectangle or disc) somewhere inside its box."""
    hands = _counted(image)
    if not hands:
        return []
    out = rgb.astype(np.float64)
    for hand in hands:
        bw, bh = hand.box[2:] - hand.box[:2]
        frac = rng.uniform(*OCCLUDER_AREA)
        aspect = rng.uniform(0.6, 1.6)  # occluder w / h
        w = int(max(2, round(np.sqrt(frac * bw * bh * aspect))))
        h = int(max(2, round(np.sqrt(frac * bw * bh / aspect))))
        w, h = min(w, int(bw)), min(h, int(bh))
        x0 = round(float(hand.box[0]) + rng.uniform(0, max(0.0, bw - w)))
        y0 = round(float(hand.box[1]) + rng.uniform(0, max(0.0, bh - h)))
        x1, y1 = min(x0 + w, image.width), min(y0 + h, image.height)
        w, h = x1 - x0, y1 - y0
        if w < 2 or h < 2:
            continue
        texture = _occluder_texture(rgb, image, w, h, rng)
        if rng.random() < 0.5:
            mask = np.ones((h, w), dtype=bool)
        else:  # an ellipse filling the rectangle: a ball, a cup seen from above, a lid
            yy, xx = np.mgrid[0:h, 0:w]
            mask = ((xx + 0.5 - w / 2) / (w / 2)) ** 2 + ((yy + 0.5 - h / 2) / (h / 2)) ** 2 <= 1.0
        region = out[y0:y1, x0:x1]
        region[mask] = texture[mask]
    name = _name(image, "occluded")
    labels = map_labels(image, 1.0, (0.0, 0.0), image.width, image.height, name, frozenset({"occluded"}))
    return [HardCase(np.clip(out, 0, 255).astype(np.uint8), labels)]


def make_dark(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """A dim room: gamma 1.8-2.4, gain 0.5-0.7, then sensor noise."""
    gamma, gain = rng.uniform(1.8, 2.4), rng.uniform(0.5, 0.7)
    out = 255.0 * gain * (rgb / 255.0) ** gamma + rng.normal(0.0, 3.0, size=rgb.shape)
    labels = map_labels(
        image, 1.0, (0.0, 0.0), image.width, image.height, _name(image, "dark"), frozenset({"low_light"})
    )
    return [HardCase(np.clip(out, 0, 255).astype(np.uint8), labels)]


def make_low_contrast(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """Haze / a washed-out exposure: pixels pulled towards the mean, contrast 0.3-0.45."""
    contrast = rng.uniform(0.3, 0.45)
    mean = rgb.reshape(-1, 3).mean(0)
    out = mean + contrast * (rgb - mean) + rng.normal(0.0, 2.0, size=rgb.shape)
    labels = map_labels(
        image,
        1.0,
        (0.0, 0.0),
        image.width,
        image.height,
        _name(image, "low_contrast"),
        frozenset({"low_light"}),
    )
    return [HardCase(np.clip(out, 0, 255).astype(np.uint8), labels)]


def make_gloved(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """:data:`GLOVE_COPIES` copies with every hand's skin recoloured to a glove (one colour per copy).

    The file name says the glove (``stem__gloved_blue_nitrile.jpg``), for recall per colour.
    """
    weights, gloved = [], []
    for index, hand in enumerate(image.hands):
        if hand.ignore:
            continue
        weight = gloves.glove_mask(rgb, hand.box)
        x0, y0, x1, y1 = hand.box
        if (weight > 0.5).sum() >= GLOVE_MIN_FILL * (x1 - x0) * (y1 - y0):
            weights.append(weight)
            gloved.append(index)
    if not gloved:
        return []
    weight = np.maximum.reduce(weights)  # (H, W) overlapping hands share one glove layer
    names = list(gloves.GLOVES)
    picks = rng.choice(len(names), size=min(GLOVE_COPIES, len(names)), replace=False)
    cases = []
    for pick in picks:
        name = names[int(pick)]
        out = gloves.apply_glove(rgb, weight, gloves.GLOVES[name], rng)
        labels = map_labels(image, 1.0, (0.0, 0.0), image.width, image.height, _name(image, "gloved", name))
        for index in gloved:
            labels.hands[index].kinds = labels.hands[index].kinds | {"gloved"}
        cases.append(HardCase(out, labels))
    return cases


Maker = Callable[[np.ndarray, LabelledImage, np.random.Generator], list[HardCase]]


#: Registry: maker name -> function, in the order they run.
def make_no_hands(rgb: np.ndarray, image: LabelledImage, rng: np.random.Generator) -> list[HardCase]:
    """Up to :data:`NO_HANDS_CROPS` square crops clear of every hand (:data:`NO_HANDS_MARGIN` around each
    box), each resized to :data:`CLOSE_UP_SIDE_PX`; fewer when the photo has no room (200 draws each)."""
    boxes = np.array([hand.box for hand in image.hands], dtype=np.float64).reshape(-1, 4)
    margin = NO_HANDS_MARGIN * np.max(boxes[:, 2:] - boxes[:, :2], axis=1, initial=0.0)[:, None]  # (N, 1)
    keep_clear = np.concatenate([boxes[:, :2] - margin, boxes[:, 2:] + margin], axis=1)  # (N, 4)
    shorter = float(min(image.width, image.height))
    cases = []
    for _ in range(200 * NO_HANDS_CROPS):
        if len(cases) == NO_HANDS_CROPS:
            break
        size = int(rng.uniform(*NO_HANDS_SIDE) * shorter)
        left = int(rng.integers(0, image.width - size + 1))
        top = int(rng.integers(0, image.height - size + 1))
        if _clear_of(keep_clear, left, top, size, size):
            shrink = cv2.INTER_AREA if size > CLOSE_UP_SIDE_PX else cv2.INTER_CUBIC
            name = _name(image, "no_hands", len(cases))
            cases.append(_square_crop(rgb, image, left, top, size, name, shrink))
    return cases


MAKERS: dict[str, Maker] = {
    "small": make_small,
    "tiny": make_tiny,
    "close_up": make_close_up,
    "occluded": make_occluded,
    "dark": make_dark,
    "low_contrast": make_low_contrast,
    "gloved": make_gloved,
    "at_border": make_at_border,
    "no_hands": make_no_hands,
}
#: What ``fast-hamer detect-hard-set`` makes unless ``--cases`` says otherwise: the sets the README's
#: detector tables were measured on. ``at_border`` and ``no_hands`` came later and are asked for by name.
DEFAULT_MAKERS: tuple[str, ...] = ("small", "tiny", "close_up", "occluded", "dark", "low_contrast", "gloved")


def make_hard_cases(
    rgb: np.ndarray, image: LabelledImage, seed: int = 0, makers: Sequence[str] = tuple(MAKERS)
) -> list[HardCase]:
    """Every maker in ``makers`` on one photo, each with its own seeded generator (module docstring)."""
    unknown = [name for name in makers if name not in MAKERS]
    if unknown:
        raise ValueError(f"unknown hard case(s) {unknown}; known: {', '.join(MAKERS)}")
    if rgb.shape[:2] != (image.height, image.width):
        raise ValueError(
            f"{image.file}: image is {rgb.shape[1]}x{rgb.shape[0]}, "
            f"its label says {image.width}x{image.height}"
        )
    cases = []
    for name in makers:
        rng = np.random.default_rng([seed, zlib.crc32(image.file.encode()), list(MAKERS).index(name)])
        cases += [replace(case, maker=name) for case in MAKERS[name](rgb, image, rng)]
    return cases


def write_hard_set(
    images: Sequence[LabelledImage],
    image_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int = 0,
    makers: Sequence[str] = tuple(MAKERS),
    progress: bool = True,
) -> list[tuple[str, LabelledImage]]:
    """Make the hard cases of every labelled photo; write them (JPEG, quality 95) and ``labels.json``
    into ``out_dir``, where ``fast-hamer detect-eval --labels OUT/labels.json`` finds them.

    Returns ``(maker name, labels)`` of every written image.
    """
    from tqdm import tqdm

    from fast_hamer_core.preprocess import read_rgb

    image_dir, out_dir = Path(image_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, LabelledImage]] = []
    for image in tqdm(images, desc="hard cases", unit="photo", disable=None if progress else True):
        rgb = read_rgb(image_dir / image.file)
        for case in make_hard_cases(rgb, image, seed=seed, makers=makers):
            path = out_dir / case.labels.file
            bgr = cv2.cvtColor(case.image, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise RuntimeError(f"cannot write {path}")
            written.append((case.maker, case.labels))
    save_labels([labels for _, labels in written], out_dir / "labels.json")
    return written
