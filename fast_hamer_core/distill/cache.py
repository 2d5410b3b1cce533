"""Teacher cache: the teacher's predictions (and optionally its fp16 feature maps) stored per sample.

``fast-hamer distill-cache`` runs the teacher once over every training shard, on the un-augmented crop
of each hand, and stores the result so that output-level KD can train for many epochs without running
ViT-H at every step. Predictions are stored in the *image frame* (:func:`~fast_hamer_core.distill.
augment.labels_from_crop`): training moves them into the augmented crop with the same transform as the
ground truth, so they stay valid under any augmentation. Feature maps cannot be moved that way; they
are used only when training has no geometric augmentation (the trainer runs the teacher backbone
otherwise).

Layout: ``<cache_dir>/<source name>/<shard file stem>/`` holding ``index.json`` (sample ids
``"<key>/<hand>"``, teacher model, crop settings) and one ``.npy`` per array, read memory-mapped:
``keypoints_2d`` (N, 21, 3) image px (+ confidence 1), ``keypoints_3d`` (N, 21, 4) m, ``global_orient``
(N, 1, 3, 3), ``hand_pose`` (N, 15, 3, 3), ``betas`` (N, 10) float32, ``features`` (N, C, h, w) float16.
``<cache_dir>/mean_params.npz`` holds the teacher head's mean parameters (HaMeR's ``mano_mean_params.npz``
layout), so that training from the cache alone starts the student where KD with the teacher would.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from fast_hamer_core.distill.augment import (
    AugmentParams,
    HandLabels,
    crop_matrix,
    labels_from_crop,
    normalise_crop,
    warp_image,
)
from fast_hamer_core.distill.data import CropConfig, ShardSource, box_of, check_shards, iterate_records

log = logging.getLogger(__name__)

ARRAYS: tuple[str, ...] = ("keypoints_2d", "keypoints_3d", "global_orient", "hand_pose", "betas")
INDEX_NAME = "index.json"
MEAN_PARAMS_NAME = "mean_params.npz"


def write_mean_params(path: str | os.PathLike, head: torch.nn.Module) -> Path:
    """A head's ``init_hand_pose`` / ``init_betas`` / ``init_cam`` buffers as HaMeR's ``mano_mean_params.npz``
    (``pose`` (96,), ``shape`` (10,), ``cam`` (3,)), the file ``student.mean_params`` takes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        pose=head.init_hand_pose.detach().cpu().numpy().reshape(-1),
        shape=head.init_betas.detach().cpu().numpy().reshape(-1),
        cam=head.init_cam.detach().cpu().numpy().reshape(-1),
    )
    return path


def shard_cache_dir(cache_dir: str | os.PathLike, source: str, shard: str) -> Path:
    """Directory of one shard's cache entries."""
    stem = os.path.basename(shard)
    for ext in (".tar.gz", ".tgz", ".tar"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    return Path(cache_dir) / source / stem


class TeacherCache:
    """Reads cache entries: ``lookup(source, shard_url, sample_id) -> (HandLabels | None, features | None)``.

    ``use_features`` False ignores stored feature maps. Shard directories are opened lazily and kept in
    a small LRU (``max_open``), arrays memory-mapped, so a DataLoader worker touches only what it reads.
    """

    def __init__(self, cache_dir: str | os.PathLike, use_features: bool = True, max_open: int = 8) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        if not self.cache_dir.is_dir():
            raise FileNotFoundError(
                f"teacher cache directory not found: {self.cache_dir} "
                "(write it with `fast-hamer distill-cache`)"
            )
        self.use_features = use_features
        self.max_open = max_open
        self._open: OrderedDict[Path, dict[str, Any] | None] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled into DataLoader workers without open memory maps (each worker opens its own)."""
        return {**self.__dict__, "_open": OrderedDict()}

    def _shard(self, directory: Path) -> dict[str, Any] | None:
        if directory in self._open:
            self._open.move_to_end(directory)
            return self._open[directory]
        entry = None
        index_path = directory / INDEX_NAME
        if index_path.is_file():
            index = json.loads(index_path.read_text())
            arrays = {k: np.load(directory / f"{k}.npy", mmap_mode="r") for k in ARRAYS}
            if self.use_features and (directory / "features.npy").is_file():
                arrays["features"] = np.load(directory / "features.npy", mmap_mode="r")
            entry = {"rows": {sid: i for i, sid in enumerate(index["ids"])}, "arrays": arrays}
        self._open[directory] = entry
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)
        return entry

    def has_shard(self, source: str, shard: str) -> bool:
        return (shard_cache_dir(self.cache_dir, source, shard) / INDEX_NAME).is_file()

    def has_features(self, source: str, shard: str) -> bool:
        return (shard_cache_dir(self.cache_dir, source, shard) / "features.npy").is_file()

    def lookup(self, source: str, shard: str, sample_id: str) -> tuple[HandLabels | None, np.ndarray | None]:
        entry = self._shard(shard_cache_dir(self.cache_dir, source, shard))
        if entry is None or sample_id not in entry["rows"]:
            return None, None
        i = entry["rows"][sample_id]
        a = entry["arrays"]
        labels = HandLabels(*(np.array(a[k][i], dtype=np.float32) for k in ARRAYS))
        feats = np.array(a["features"][i], dtype=np.float32) if "features" in a else None
        return labels, feats

    def missing_shards(self, sources: Sequence[ShardSource]) -> list[str]:
        """Shards of ``sources`` without a cache entry (``"<source>: <shard>"``)."""
        return [
            f"{s.name}: {p}"
            for s in sources
            for p in check_shards(s.name, s.urls)
            if not self.has_shard(s.name, p)
        ]


def _teacher_batch(
    teacher: torch.nn.Module, crops: list[np.ndarray], device: torch.device, features: bool
) -> dict[str, np.ndarray]:
    x = torch.from_numpy(np.stack(crops)).to(device)
    with (
        torch.no_grad(),
        torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"),
    ):
        out = teacher(x)
    res = {
        "keypoints_2d": out["pred_keypoints_2d"].float().cpu().numpy(),
        "keypoints_3d": out["pred_keypoints_3d"].float().cpu().numpy(),
        "global_orient": out["pred_mano_params"]["global_orient"].float().cpu().numpy(),
        "hand_pose": out["pred_mano_params"]["hand_pose"].float().cpu().numpy(),
        "betas": out["pred_mano_params"]["betas"].float().cpu().numpy(),
    }
    if features:
        res["features"] = out["features"].half().cpu().numpy()
    return res


def build_teacher_cache(
    teacher: torch.nn.Module,
    sources: Sequence[ShardSource],
    cache_dir: str | os.PathLike,
    crop: CropConfig,
    features: bool = False,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    teacher_name: str = "",
    progress: bool = False,
) -> dict[str, Any]:
    """Run ``teacher`` (a HandMeshModel with MANO, eval mode) over every hand of every shard of ``sources``.

    Existing shard entries are skipped unless ``overwrite``. Returns counts and the time spent.
    ``progress``: a tqdm bar over the shards (hands so far in its postfix).
    Writes are atomic per shard (a temporary directory renamed at the end).
    """
    device = torch.device(device)
    teacher = teacher.to(device).eval()
    if not getattr(teacher, "has_mano", True):
        raise ValueError("the teacher needs a MANO layer to predict keypoints (pass --mano)")
    cache_dir = Path(cache_dir).expanduser()
    write_mean_params(cache_dir / MEAN_PARAMS_NAME, teacher.mano_head)
    stats = {"shards": 0, "skipped_shards": 0, "samples": 0, "seconds": 0.0}
    t0 = time.perf_counter()
    shards = [(source, shard) for source in sources for shard in check_shards(source.name, source.urls)]
    bar = tqdm(shards, desc="teacher cache", unit="shard", disable=not progress, dynamic_ncols=True)
    for source, shard in bar:
        out_dir = shard_cache_dir(cache_dir, source.name, shard)
        if (out_dir / INDEX_NAME).is_file() and not overwrite:
            stats["skipped_shards"] += 1
            continue
        ids: list[str] = []
        chunks: dict[str, list[np.ndarray]] = {}
        pending: list[tuple[str, np.ndarray, np.ndarray, AugmentParams]] = []
        for rec in iterate_records([shard]):
            for h, ann in enumerate(rec["hands"]):
                params = AugmentParams(flip=float(np.asarray(ann.get("right", 1.0))) < 0.5)
                center, size = box_of(ann, crop)
                m = crop_matrix(center, size, crop.crop_size, params, rec["image"].shape[1])
                x = normalise_crop(warp_image(rec["image"], m, crop.crop_size), crop.mean, crop.std)
                pending.append((f"{rec['__key__']}/{h}", x, m, params))
                if len(pending) >= batch_size:
                    _flush(teacher, pending, device, features, crop, ids, chunks)
        _flush(teacher, pending, device, features, crop, ids, chunks)
        _write_shard_cache(
            out_dir,
            ids,
            chunks,
            {"teacher": teacher_name, "shard": shard, "crop": asdict(crop), "features": features},
        )
        stats["shards"] += 1
        stats["samples"] += len(ids)
        bar.set_postfix(hands=stats["samples"])
        log.debug("teacher cache: %s (%d hands)", out_dir, len(ids))
    stats["seconds"] = time.perf_counter() - t0
    return stats


def _flush(
    teacher: torch.nn.Module,
    pending: list[tuple[str, np.ndarray, np.ndarray, AugmentParams]],
    device: torch.device,
    features: bool,
    crop: CropConfig,
    ids: list[str],
    chunks: dict[str, list[np.ndarray]],
) -> None:
    """Run the teacher on the pending crops; append image-frame labels (and feature maps) to ``chunks``."""
    if not pending:
        return
    res = _teacher_batch(teacher, [p[1] for p in pending], device, features)
    ones = np.ones((21, 1), np.float32)
    for j, (sid, _, m, params) in enumerate(pending):
        crop_labels = HandLabels(
            np.concatenate([res["keypoints_2d"][j], ones], 1),
            np.concatenate([res["keypoints_3d"][j], ones], 1),
            res["global_orient"][j],
            res["hand_pose"][j],
            res["betas"][j],
        )
        img_labels = labels_from_crop(crop_labels, m, params, crop.crop_size)
        for k in ARRAYS:
            chunks.setdefault(k, []).append(getattr(img_labels, k))
        if features:
            chunks.setdefault("features", []).append(res["features"][j])
        ids.append(sid)
    pending.clear()


def _write_shard_cache(
    out_dir: Path, ids: list[str], chunks: dict[str, list[np.ndarray]], meta: dict
) -> None:
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for k, values in chunks.items():
        dtype = np.float16 if k == "features" else np.float32
        np.save(tmp / f"{k}.npy", np.stack(values).astype(dtype))
    if not ids:  # an empty shard still gets (empty) arrays
        for k in ARRAYS:
            np.save(tmp / f"{k}.npy", np.zeros((0,), np.float32))
    (tmp / INDEX_NAME).write_text(json.dumps({"ids": ids, **meta}, indent=1))
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
