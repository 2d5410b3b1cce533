"""HaMeR's training data: webdataset tar shards -> augmented 256x256 training samples.

Shard format (HaMeR's ``hamer_training_data/dataset_tars/<name>/{000000..N}.tar``, read by its
``ImageDataset.load_tars_as_webdataset``): each image is two tar members sharing a key (no dots in it),

- ``<key>.jpg`` (or ``.jpeg`` / ``.png``): the full RGB image;
- ``<key>.data.pyd``: a pickled *list* of per-hand annotation dicts, each with
  ``center`` (2,) box centre px, ``scale`` (2,) box (w, h) / 200 px (or one value: a square box),
  ``keypoints_2d`` (21, 3) px + confidence, ``keypoints_3d`` (21, 4) metres (camera frame) +
  confidence, ``hand_pose`` (48,) axis-angle (global orientation then 15 joints, the hand's own side
  convention), ``betas`` (10,), ``right`` (1 right, 0 left), ``has_hand_pose``, ``has_betas`` (0/1)
  and optionally ``extra_info`` (dict; ``fitting_loss`` with a ``reprojection_loss``).

Keypoints are in the 21-joint OpenPose order of :mod:`fast_hamer_core.skeleton`.
:func:`write_shard` writes this format (used by the test fixtures and by anyone converting data).
Pickles are read with an unpickler that only rebuilds numpy arrays and plain containers.

A training sample (:func:`make_sample`) is a dict of numpy arrays: ``img`` (3, 256, 256) normalised,
``keypoints_2d`` (21, 3) crop units in [-0.5, 0.5] + confidence, ``keypoints_3d`` (21, 4),
``global_orient`` (1, 3, 3), ``hand_pose`` (15, 3, 3) rotation matrices, ``betas`` (10,),
``has_global_orient`` / ``has_hand_pose`` / ``has_betas``, ``right``, ``box_center``, ``box_size``,
``sample_id`` (``"<key>/<hand index>"``) and, when a teacher cache is used, ``teacher_*`` targets
transformed by the same augmentation (see :mod:`fast_hamer_core.distill.cache`).
"""

from __future__ import annotations

import glob
import io
import logging
import os
import pickle
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from fast_hamer_core.distill.augment import (
    AugmentConfig,
    AugmentParams,
    HandLabels,
    crop_matrix,
    expand_to_aspect,
    labels_to_crop,
    normalise_crop,
    sample_augmentation,
    warp_image,
)
from fast_hamer_core.image_io import decode_rgb

log = logging.getLogger(__name__)

NUM_JOINTS = 21
IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png")
ANNOTATION_MEMBER = "data.pyd"

SHARD_LAYOUT = (
    "webdataset tar shards as HaMeR's hamer_training_data/dataset_tars/<name>/{000000..NNNNNN}.tar: "
    "members <key>.jpg + <key>.data.pyd (pickled list of hand dicts with center, scale, keypoints_2d, "
    "keypoints_3d, hand_pose, betas, right, has_hand_pose, has_betas)"
)


# --------------------------------------------------------------------------------------------------
# Reading and writing the tar format


class _NumpyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays/scalars and builtin containers only; anything else is refused."""

    _ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("collections", "OrderedDict"),
            ("builtins", "set"),
            ("builtins", "frozenset"),
            ("builtins", "slice"),
            ("builtins", "complex"),
            ("__builtin__", "set"),
            ("__builtin__", "frozenset"),
            ("copy_reg", "_reconstructor"),
            ("copyreg", "_reconstructor"),
            ("builtins", "object"),
            ("__builtin__", "object"),
            ("_codecs", "encode"),  # protocol-2 pickles of bytes (numpy buffers) written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED or (module.startswith("numpy") and name.endswith("Dtype")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} (only numpy data is allowed)")


def load_pickle(data: bytes, encoding: str = "ASCII") -> Any:
    """Unpickle numpy-only data (HaMeR ``.pyd`` members, HO3D ``meta/*.pkl`` with ``encoding='latin1'``)."""
    return _NumpyUnpickler(io.BytesIO(data), encoding=encoding).load()


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Encoded jpg/png bytes -> (H, W, 3) uint8 RGB in the stored pixel order: an EXIF orientation tag
    is ignored, as HaMeR's loader does (PIL through webdataset's ``decode('rgb8')``), so that the pixels
    and the annotated keypoints agree. ValueError (``ImageDecodeError``) naming the member when the
    bytes are not a complete image."""
    return decode_rgb(data, name, apply_orientation=False)


def write_shard(
    path: str | os.PathLike,
    records: Iterable[tuple[str, np.ndarray, list[dict[str, Any]]]],
    jpeg_quality: int = 95,
) -> Path:
    """Write a HaMeR-format shard: ``records`` of ``(key, image RGB uint8, [hand annotation dict, ...])``.

    Keys must be unique and contain no dots (webdataset splits member names at the first dot).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with tarfile.open(path, "w") as tar:
        for key, image, hands in records:
            if "." in key or "/" in key or key in seen:
                raise ValueError(f"shard key {key!r} must be unique and contain no '.' or '/'")
            seen.add(key)
            ok, jpg = cv2.imencode(
                ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
            )
            if not ok:
                raise ValueError(f"cannot encode image {key}")
            for suffix, payload in (("jpg", jpg.tobytes()), (ANNOTATION_MEMBER, pickle.dumps(list(hands)))):
                info = tarfile.TarInfo(f"{key}.{suffix}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


def expand_urls(urls: str | Sequence[str]) -> list[str]:
    """Brace patterns (``{000000..000130}``), globs, ``~`` and ``$VARS`` -> a sorted list of shard paths."""
    import braceexpand

    items = [urls] if isinstance(urls, str) else list(urls)
    out: list[str] = []
    for item in items:
        for u in braceexpand.braceexpand(os.path.expanduser(os.path.expandvars(str(item)))):
            out.extend(sorted(glob.glob(u)) if any(c in u for c in "*?[") else [u])
    return out


def check_shards(name: str, urls: str | Sequence[str]) -> list[str]:
    """The expanded shard list of training source ``name``; FileNotFoundError naming it if none exist."""
    shards = expand_urls(urls)
    missing = [s for s in shards if "://" not in s and not Path(s).is_file()]
    if not shards or len(missing) == len(shards):
        shown = urls if isinstance(urls, str) else ", ".join(map(str, urls))
        raise FileNotFoundError(
            f"training dataset {name!r}: no shard found for {shown}. Expected {SHARD_LAYOUT}. "
            "Set its path in the config (data.train[*].urls) or with --set."
        )
    if missing:
        raise FileNotFoundError(
            f"training dataset {name!r}: {len(missing)} of {len(shards)} shards missing, e.g. {missing[0]}"
        )
    return shards


def iter_tar(path: str) -> Iterator[dict[str, Any]]:
    """Raw grouped members of one shard: ``{'__key__', '__url__', '<ext>': bytes, ...}`` (webdataset-like)."""
    current: dict[str, Any] | None = None
    with tarfile.open(path, "r") as tar:
        for member in tar:
            if not member.isfile():
                continue
            base = os.path.basename(member.name)
            key, _, ext = base.partition(".")
            key = os.path.join(os.path.dirname(member.name), key) if os.path.dirname(member.name) else key
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key, "__url__": path}
            f = tar.extractfile(member)
            current[ext] = f.read() if f is not None else b""
    if current is not None:
        yield current


def decode_record(raw: dict[str, Any]) -> dict[str, Any]:
    """Grouped members -> ``{'__key__', '__url__', 'image': RGB uint8, 'hands': [dict, ...]}``."""
    img_ext = next((e for e in IMAGE_EXTENSIONS if e in raw), None)
    if img_ext is None or ANNOTATION_MEMBER not in raw:
        raise ValueError(
            f"shard {raw.get('__url__')}: sample {raw.get('__key__')!r} lacks an image or "
            f"{ANNOTATION_MEMBER} (has {sorted(k for k in raw if not k.startswith('__'))})"
        )
    hands = load_pickle(raw[ANNOTATION_MEMBER])
    if isinstance(hands, dict):
        hands = [hands]
    return {
        "__key__": raw["__key__"],
        "__url__": raw["__url__"],
        "image": decode_image(raw[img_ext], raw["__key__"]),
        "hands": list(hands),
    }


# --------------------------------------------------------------------------------------------------
# Annotation clean-up (HaMeR's data_filtering/low1) and one training sample


@dataclass(frozen=True)
class FilterConfig:
    """HaMeR's training-data clean-up (``data_filtering/low1.yaml`` + ``BETAS_REG``)."""

    suppress_kp_conf_thresh: float = 0.3
    filter_num_kp: int = 4
    filter_num_kp_thresh: float = 0.0
    filter_reproj_thresh: float = 31000.0
    suppress_betas_thresh: float = 3.0
    poses_betas_simultaneous: bool = True
    filter_no_poses: bool = False
    betas_reg: bool = True


def clean_annotation(ann: dict[str, Any], cfg: FilterConfig) -> dict[str, Any] | None:
    """Apply the filters to one hand annotation: a cleaned copy, or None if the hand is dropped."""
    ann = dict(ann)
    kp2 = np.array(ann["keypoints_2d"], dtype=np.float32, copy=True).reshape(NUM_JOINTS, 3)
    if cfg.suppress_kp_conf_thresh > 0:
        kp2[kp2[:, 2] < cfg.suppress_kp_conf_thresh, 2] = 0.0
    ann["keypoints_2d"] = kp2
    has_pose = float(np.asarray(ann.get("has_hand_pose", 0.0)))
    has_betas = float(np.asarray(ann.get("has_betas", 0.0)))
    betas = np.asarray(ann.get("betas", np.zeros(10)), dtype=np.float32).reshape(10)
    if cfg.suppress_betas_thresh > 0 and has_betas > 0 and np.any(np.abs(betas) > cfg.suppress_betas_thresh):
        has_betas = 0.0
    if cfg.poses_betas_simultaneous:
        has_pose = has_betas = float(has_pose > 0 and has_betas > 0)
    if cfg.filter_no_poses and not has_pose > 0:
        return None
    if cfg.filter_num_kp > 0 and (kp2[:, 2] > cfg.filter_num_kp_thresh).sum() <= cfg.filter_num_kp:
        return None
    if cfg.filter_reproj_thresh > 0:
        losses = (
            ann.get("extra_info", {}).get("fitting_loss") if isinstance(ann.get("extra_info"), dict) else None
        )
        if losses is not None:
            losses = np.asarray(losses).item() if isinstance(losses, np.ndarray) else losses
            reproj = losses.get("reprojection_loss") if isinstance(losses, dict) else None
            if reproj is not None and float(reproj) >= cfg.filter_reproj_thresh:
                return None
    if cfg.betas_reg and not has_betas > 0:  # regularise betas towards 0 when unknown (HaMeR: last step)
        has_betas, betas = 1.0, np.zeros_like(betas)
    ann["betas"], ann["has_hand_pose"], ann["has_betas"] = betas, has_pose, has_betas
    return ann


def axis_angle_to_matrices(aa: np.ndarray) -> np.ndarray:
    """(..., 3k) axis-angle -> (..., k, 3, 3) rotation matrices."""
    aa = np.asarray(aa, dtype=np.float64)
    flat = aa.reshape(-1, 3)
    mats = Rotation.from_rotvec(flat).as_matrix()
    return mats.reshape(*aa.shape[:-1], aa.shape[-1] // 3, 3, 3)


def matrices_to_axis_angle(mats: np.ndarray) -> np.ndarray:
    """(..., k, 3, 3) rotation matrices -> (..., 3k) axis-angle. Inverse of :func:`axis_angle_to_matrices`."""
    mats = np.asarray(mats, dtype=np.float64)
    flat = Rotation.from_matrix(mats.reshape(-1, 3, 3)).as_rotvec()
    return flat.reshape(*mats.shape[:-3], mats.shape[-3] * 3)


def annotation_labels(ann: dict[str, Any]) -> HandLabels:
    """Image-frame :class:`HandLabels` of one annotation dict (axis-angle -> matrices)."""
    pose = axis_angle_to_matrices(np.asarray(ann["hand_pose"], dtype=np.float64).reshape(48))  # (16, 3, 3)
    kp3 = np.asarray(ann.get("keypoints_3d", np.zeros((NUM_JOINTS, 4))), dtype=np.float32).reshape(
        NUM_JOINTS, 4
    )
    return HandLabels(
        keypoints_2d=np.asarray(ann["keypoints_2d"], dtype=np.float32).reshape(NUM_JOINTS, 3),
        keypoints_3d=kp3,
        global_orient=pose[:1].astype(np.float32),
        hand_pose=pose[1:].astype(np.float32),
        betas=np.asarray(ann.get("betas", np.zeros(10)), dtype=np.float32).reshape(10),
    )


@dataclass(frozen=True)
class CropConfig:
    """How a box becomes the network crop: ``crop_size``, ImageNet ``mean``/``std``, and the box aspect
    (HaMeR ``MODEL.BBOX_SHAPE`` [192, 256] -> 0.75) the annotated box is expanded to before squaring."""

    crop_size: int = 256
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    box_aspect_wh: float | None = 192.0 / 256.0


def box_of(ann: dict[str, Any], crop: CropConfig) -> tuple[np.ndarray, float]:
    """(centre px (2,), square box size px) of an annotation: (w, h) = scale * 200, aspect-expanded, max.

    A one-value ``scale`` is a square box of ``scale * 200`` px, NOT expanded to the aspect: HaMeR's
    webdataset path (``expand_to_aspect_ratio`` in hamer/datasets/utils.py) returns a one-value input
    unchanged, so its box size is ``scale * 200``."""
    center = np.asarray(ann["center"], dtype=np.float64).reshape(2)
    scale = np.asarray(ann["scale"], dtype=np.float64).reshape(-1)
    if scale.size == 1:
        size = float(scale[0] * 200.0)
    else:
        size = float(expand_to_aspect(scale[:2] * 200.0, crop.box_aspect_wh).max())
    if size < 1.0:
        raise ValueError(f"box of size {size:.3g} px is too small")
    return center, size


def make_sample(
    image: np.ndarray,
    ann: dict[str, Any],
    sample_id: str,
    crop: CropConfig,
    params: AugmentParams,
    teacher: HandLabels | None = None,
    teacher_features: np.ndarray | None = None,
) -> dict[str, Any]:
    """One training sample from a full image and a (cleaned) hand annotation, with augmentation ``params``.

    Left hands (``right == 0``) are always flipped (HaMeR's rule), right hands only by a random flip.
    ``teacher``: image-frame teacher labels (from the cache), moved into the crop exactly like the ground
    truth; ``teacher_features``: the teacher's feature map of the un-augmented crop (only valid when
    ``params`` is geometrically the identity, which the trainer enforces).
    """
    right = float(np.asarray(ann.get("right", 1.0)))
    if right < 0.5:
        params = params.with_flip(True)
    center, size = box_of(ann, crop)
    m = crop_matrix(center, size, crop.crop_size, params, image.shape[1])
    img = normalise_crop(warp_image(image, m, crop.crop_size), crop.mean, crop.std, params.color)
    gt = labels_to_crop(annotation_labels(ann), m, params, crop.crop_size)
    has_pose = np.float32(np.asarray(ann.get("has_hand_pose", 0.0)))
    sample: dict[str, Any] = {
        "img": img,
        "keypoints_2d": gt.keypoints_2d,
        "keypoints_3d": gt.keypoints_3d,
        "global_orient": gt.global_orient,
        "hand_pose": gt.hand_pose,
        "betas": gt.betas,
        "has_global_orient": has_pose,
        "has_hand_pose": has_pose,
        "has_betas": np.float32(np.asarray(ann.get("has_betas", 0.0))),
        "right": np.float32(right),
        "box_center": center.astype(np.float32),
        "box_size": np.float32(size),
        "sample_id": sample_id,
    }
    if teacher is not None:
        t = labels_to_crop(teacher, m, params, crop.crop_size)
        sample.update(
            {
                "teacher_keypoints_2d": t.keypoints_2d[:, :2],
                "teacher_keypoints_3d": t.keypoints_3d[:, :3],
                "teacher_global_orient": t.global_orient,
                "teacher_hand_pose": t.hand_pose,
                "teacher_betas": t.betas,
            }
        )
    if teacher_features is not None:
        sample["teacher_features"] = np.asarray(teacher_features, dtype=np.float32)
    return sample


# --------------------------------------------------------------------------------------------------
# The training stream


@dataclass(frozen=True)
class ShardSource:
    """One training dataset: a name, its shard pattern and its mixing weight (HaMeR's ``mix_all``)."""

    name: str
    urls: str | tuple[str, ...]
    weight: float = 1.0


@dataclass
class HandShardDataset(torch.utils.data.IterableDataset):
    """Iterates augmented training samples from weighted shard sources (an endless stream when ``resampled``).

    Each source is read shard by shard (shards split over DDP ranks and DataLoader workers, as webdataset's
    ``split_by_node`` / ``split_by_worker``), with a shuffle buffer; sources are mixed by weight.
    ``resampled`` draws shards with replacement forever (HaMeR's mode; training length =
    ``max_steps``); otherwise one pass over every shard is one epoch. ``augment=None`` turns augmentation off.
    ``teacher_cache``: an object with ``lookup(source, url, sample_id) -> (labels | None, features | None)``.
    """

    sources: Sequence[ShardSource]
    crop: CropConfig = field(default_factory=CropConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    shuffle_buffer: int = 100
    resampled: bool = False
    seed: int = 0
    teacher_cache: Any = None
    epoch: int = 0
    #: Batches already trained on (resume): the first pass skips them, see :meth:`skip_batches`.
    resume_batches: int = 0
    resume_epoch: int = 0
    batch_size: int = 1

    def __post_init__(self) -> None:
        super().__init__()
        if not self.sources:
            raise ValueError("HandShardDataset needs at least one shard source")
        self._shards = {s.name: check_shards(s.name, s.urls) for s in self.sources}

    def skip_batches(self, batches: int, batch_size: int, epoch: int = 0) -> None:
        """Resume inside pass ``epoch``: its stream (seeded by ``epoch``) skips the samples of ``batches``
        batches of ``batch_size`` already trained on (per reader: a DataLoader worker skips the batches it
        would have produced). Skipped samples still draw their augmentation, so the random stream after
        them is the one an uninterrupted run sees."""
        self.resume_batches, self.batch_size = int(batches), int(batch_size)
        self.epoch = self.resume_epoch = int(epoch)

    def _skip_count(self, wid: int, nw: int) -> int:
        """Samples this reader skips: its share of ``resume_batches`` (the loader takes batches from its
        workers in turn), times the batch size."""
        if self.resume_batches <= 0:
            return 0
        mine = len(range(wid, self.resume_batches, nw))
        return mine * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the random seed of the next pass (passes also count themselves)."""
        self.epoch = int(epoch)

    def _rank_world(self) -> tuple[int, int, int, int]:
        rank, world = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank, world, wid, nw

    def _source_stream(
        self,
        source: ShardSource,
        rng: np.random.Generator,
        part: int,
        parts: int,
    ) -> Iterator[dict[str, Any]]:
        shards = self._shards[source.name]
        if len(shards) >= parts:
            mine = shards[part::parts]
        else:  # fewer shards than readers: every reader reads all (duplicates, but nobody starves)
            mine = shards
            if part == 0:
                log.warning(
                    "%s: %d shards for %d readers; each reads all of them", source.name, len(shards), parts
                )
        while True:
            order = (
                list(rng.choice(len(mine), size=len(mine), replace=True))
                if self.resampled
                else (list(rng.permutation(len(mine))) if self.shuffle_buffer > 1 else list(range(len(mine))))
            )
            for i in order:
                for raw in iter_tar(mine[i]):
                    rec = decode_record(raw)
                    for h, ann in enumerate(rec["hands"]):
                        yield {
                            "source": source.name,
                            "url": rec["__url__"],
                            "image": rec["image"],
                            "ann": ann,
                            "sample_id": f"{rec['__key__']}/{h}",
                        }
            if not self.resampled:
                return

    def _shuffled(self, it: Iterator[dict[str, Any]], rng: np.random.Generator) -> Iterator[dict[str, Any]]:
        if self.shuffle_buffer <= 1:
            yield from it
            return
        buf: list[dict[str, Any]] = []
        for item in it:
            buf.append(item)
            if len(buf) >= self.shuffle_buffer:
                yield buf.pop(int(rng.integers(len(buf))))
        while buf:
            yield buf.pop(int(rng.integers(len(buf))))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world, wid, nw = self._rank_world()
        part, parts = rank * nw + wid, world * nw
        # Different draws each pass: a pass counter in this process, and in DataLoader workers (re-created
        # every epoch) the per-epoch base seed torch gives each worker. Reproducible under a fixed seed.
        info = torch.utils.data.get_worker_info()
        worker_seed = int(info.seed) % 2**32 if info is not None else 0
        rng = np.random.default_rng([self.seed, self.epoch, part, worker_seed])
        skip = self._skip_count(wid, nw) if self.epoch == self.resume_epoch else 0
        self.epoch += 1
        streams = [self._shuffled(self._source_stream(s, rng, part, parts), rng) for s in self.sources]
        weights = np.array([max(s.weight, 0.0) for s in self.sources], dtype=np.float64)
        active = list(range(len(streams)))
        while active:
            w = weights[active]
            k = active[int(rng.choice(len(active), p=w / w.sum()))] if w.sum() > 0 else active[0]
            try:
                item = next(streams[k])
            except StopIteration:
                active.remove(k)
                continue
            sample = self._process(item, rng, skip=skip > 0)
            if sample is not None:
                if skip > 0:
                    skip -= 1
                    continue
                yield sample

    def _process(
        self, item: dict[str, Any], rng: np.random.Generator, skip: bool = False
    ) -> dict[str, Any] | None:
        """The training sample of ``item`` (None if filtered out); ``skip``: draw its augmentation only
        and return an empty dict (the sample is not needed, the random stream must advance the same)."""
        ann = clean_annotation(item["ann"], self.filters)
        if ann is None:
            return None
        params = sample_augmentation(self.augment, rng) if self.augment is not None else AugmentParams()
        if skip:
            return {}
        teacher, feats = None, None
        if self.teacher_cache is not None:
            teacher, feats = self.teacher_cache.lookup(item["source"], item["url"], item["sample_id"])
        sample = make_sample(item["image"], ann, item["sample_id"], self.crop, params, teacher, feats)
        sample["has_teacher"] = np.float32(teacher is not None)
        return sample


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch; teacher targets are kept only if every sample of the batch has them."""
    keys = set(samples[0])
    for s in samples[1:]:
        keys &= set(s)
    batch = torch.utils.data.default_collate([{k: s[k] for k in keys} for s in samples])
    if "has_teacher" in batch and not bool(batch["has_teacher"].all()):
        for k in [k for k in batch if k.startswith("teacher_")]:
            del batch[k]
    return batch


def iterate_records(shards: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every decoded record of ``shards`` in order (for the teacher cache and data inspection)."""
    for shard in shards:
        for raw in iter_tar(shard):
            yield decode_record(raw)


def load_mocap(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """HaMeR's MoCap file (``freihand_mocap.npz``: ``hand_pose`` (N, 48) axis-angle, ``betas`` (N, 10)) ->
    (hand_pose (N, 15, 3, 3) rotation matrices without the global orientation, betas (N, 10)), float32."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MoCap dataset for the adversarial prior not found: {path}. Expected HaMeR's "
            "hamer_training_data/freihand_mocap.npz (arrays hand_pose (N, 48) axis-angle and betas (N, 10)); "
            "set data.mocap, or loss.adversarial: 0 to train without the prior."
        )
    data = np.load(path)
    for k in ("hand_pose", "betas"):
        if k not in data:
            raise ValueError(f"{path}: MoCap file lacks {k!r} (has {sorted(data.files)})")
    pose = np.asarray(data["hand_pose"], dtype=np.float64)
    pose = pose[:, 3:] if pose.shape[1] == 48 else pose
    return axis_angle_to_matrices(pose).astype(np.float32), np.asarray(data["betas"], dtype=np.float32)
