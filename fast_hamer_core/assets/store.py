"""The models directory as a store: its manifest, the assets it can hold, and name resolution.

``<models dir>/manifest.json`` records, per file (path relative to the models directory), the sha256,
size and mtime seen when the file was imported or fetched, what it is, where it came from and, for
students, when it was created. Download checksums (HaMeR publishes none) are recorded per URL after
the first download and enforced on later ones. Files that appear without the manifest (e.g. written by
the trainer) are fine: their checksum status is "unknown" until ``fast-hamer models import`` records
them. See :mod:`fast_hamer_core.paths` for the directory layout.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fast_hamer_core import paths
from fast_hamer_core.assets.download import sha256_file

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

#: Registry name of the HaMeR teacher and where its files live inside ``paths.hamer_dir()``.
TEACHER_NAME = "hamer_vith"
HAMER_CKPT_NAME = "hamer.ckpt"
HAMER_CONFIG_NAME = "model_config.yaml"
MANO_FILE_NAME = "MANO_RIGHT.npz"
DETECTOR_FILE_NAME = "hand_landmarker.task"
STUDENT_SUFFIX = ".pt"

#: Asset kinds, as ``models list`` shows them.
KINDS: tuple[str, ...] = ("teacher", "student", "MANO", "detector")

#: Checkpoint metadata keys that may carry the training/creation time (ISO 8601 or POSIX seconds).
CREATED_KEYS: tuple[str, ...] = ("created", "created_at", "trained_at", "timestamp")

CHECKSUM_OK = "ok"
CHECKSUM_MISMATCH = "mismatch"
CHECKSUM_UNKNOWN = "unknown"


def iso_utc(ts: float) -> str:
    """POSIX seconds -> ISO 8601 UTC with whole seconds (what the manifest stores). Inverse: parse_time."""
    return datetime.fromtimestamp(ts, timezone.utc).replace(microsecond=0).isoformat()


def utc_now_iso() -> str:
    """Current time as ISO 8601 UTC with seconds."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def parse_time(value: Any) -> float | None:
    """POSIX seconds from an ISO 8601 string or a number; None if it is neither. Inverse: iso_utc."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return None


def created_from_metadata(metadata: dict[str, Any]) -> str | None:
    """The creation time a checkpoint's metadata records (first of :data:`CREATED_KEYS`), as ISO UTC."""
    for key in CREATED_KEYS:
        ts = parse_time(metadata.get(key))
        if ts is not None:
            return iso_utc(ts)
    return None


def describe_provenance(metadata: dict[str, Any]) -> str:
    """One line from a converted checkpoint's metadata: ``Fast-HaMeR mobilenet_v3 large, step 12000,
    from /runs/x/checkpoints/last.ckpt``."""
    origin = {"fast_hamer_lightning": "Fast-HaMeR", "hamer_lightning": "HaMeR"}.get(
        str(metadata.get("source_format")), str(metadata.get("source_format", "?"))
    )
    parts = [f"{origin} {metadata.get('backbone_type', '?')}"]
    if "step" in metadata:
        parts.append(f"step {metadata['step']}")
    parts.append(f"from {metadata.get('source', '?')}")
    return ", ".join(parts)


class Manifest:
    """``<models dir>/manifest.json``: recorded checksums and provenance of the assets.

    Entries are keyed by the path relative to the models directory (POSIX separators). Changes are
    kept in memory until :meth:`save`, which writes atomically.
    """

    def __init__(self, models_dir: str | os.PathLike | None = None) -> None:
        self.root = paths.models_dir(models_dir)
        self.path = self.root / MANIFEST_NAME
        self.data: dict[str, Any] = {"version": MANIFEST_VERSION, "assets": {}, "downloads": {}}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text())
            except (OSError, ValueError) as err:
                raise ValueError(
                    f"{self.path} is not valid JSON ({err}); delete it to start a new manifest "
                    "(checksums are then recorded again on the next import/fetch)"
                ) from err
            if not isinstance(loaded, dict):
                raise ValueError(f"{self.path}: expected a JSON object")
            self.data.update(loaded)
            self.data.setdefault("assets", {})
            self.data.setdefault("downloads", {})

    # -- files ------------------------------------------------------------------------------------

    def key(self, path: str | os.PathLike) -> str:
        """Manifest key of ``path``: relative to the models directory if inside it, else absolute."""
        p = Path(path).expanduser().absolute()
        try:
            return p.relative_to(self.root.absolute()).as_posix()
        except ValueError:
            return p.as_posix()

    def entry(self, path: str | os.PathLike) -> dict[str, Any] | None:
        """The recorded entry of ``path`` (a copy), or None."""
        e = self.data["assets"].get(self.key(path))
        return dict(e) if isinstance(e, dict) else None

    def record(
        self,
        path: str | os.PathLike,
        *,
        kind: str,
        name: str,
        source: str | None = None,
        sha256: str | None = None,
        created: str | None = None,
        provenance: str | None = None,
    ) -> dict[str, Any]:
        """Record ``path`` as it is now (sha256 computed unless given) and return the entry.

        ``provenance``: one line on what it was made from (an imported Fast-HaMeR run), shown by ``list``.
        """
        p = Path(path)
        st = p.stat()
        entry: dict[str, Any] = {
            "kind": kind,
            "name": name,
            "sha256": (sha256 or sha256_file(p)).lower(),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "recorded": utc_now_iso(),
        }
        if source:
            entry["source"] = str(source)
        if created:
            entry["created"] = created
        if provenance:
            entry["provenance"] = provenance
        self.data["assets"][self.key(p)] = entry
        return dict(entry)

    def forget(self, path: str | os.PathLike) -> None:
        self.data["assets"].pop(self.key(path), None)

    def checksum_status(self, path: str | os.PathLike, rehash: bool = True) -> str:
        """``ok`` / ``mismatch`` against the recorded sha256, ``unknown`` if nothing is recorded.

        With ``rehash=False`` a file whose size and mtime are unchanged since it was recorded counts as
        ``ok`` without reading it (for a quick listing); a changed size is a mismatch either way.
        """
        e = self.entry(path)
        if not e or "sha256" not in e:
            return CHECKSUM_UNKNOWN
        st = Path(path).stat()
        if st.st_size != e.get("size"):
            return CHECKSUM_MISMATCH
        if not rehash and st.st_mtime_ns == e.get("mtime_ns"):
            return CHECKSUM_OK
        return CHECKSUM_OK if sha256_file(path) == e["sha256"] else CHECKSUM_MISMATCH

    # -- downloads --------------------------------------------------------------------------------

    def download(self, url: str) -> dict[str, Any] | None:
        """What a previous download of ``url`` recorded (sha256, size), or None."""
        e = self.data["downloads"].get(url)
        return dict(e) if isinstance(e, dict) else None

    def record_download(self, url: str, sha256: str, size: int) -> None:
        """Remember the checksum of ``url`` (trust on first use; later downloads must match)."""
        self.data["downloads"][url] = {"sha256": sha256.lower(), "size": int(size), "recorded": utc_now_iso()}

    def save(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)
        return self.path


@dataclass(frozen=True)
class Asset:
    """One known asset slot of the models directory (present or not).

    Attributes:
        name: registry name (``hamer_vith``, a student's model name) or a fixed label (``MANO``).
        kind: one of :data:`KINDS`.
        path: where it is (or would be).
        needed_for: what the product uses it for.
        how_to_get: the command that provides it.
        optional: a missing optional asset is not a problem (the HaMeR ``model_config.yaml``).
    """

    name: str
    kind: str
    path: Path
    needed_for: str
    how_to_get: str
    optional: bool = False

    @property
    def present(self) -> bool:
        return self.path.is_file()

    @property
    def size_bytes(self) -> int | None:
        return self.path.stat().st_size if self.present else None


def teacher_paths(models_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(``hamer.ckpt``, ``model_config.yaml``) in the models directory."""
    d = paths.hamer_dir(models_dir)
    return d / HAMER_CKPT_NAME, d / HAMER_CONFIG_NAME


def student_checkpoints(
    models_dir: str | os.PathLike | None = None, name: str | None = None, manifest: Manifest | None = None
) -> list[tuple[Path, float]]:
    """Student checkpoints ``students/<name>/*.pt`` with their creation time (POSIX s), newest first.

    The time is the one the manifest records (from the checkpoint's metadata at import), else the
    file's mtime. ``name=None`` lists every model's.
    """
    root = paths.students_dir(models_dir)
    if not root.is_dir():
        return []
    manifest = manifest or Manifest(models_dir)
    dirs = [root / name] if name else sorted(p for p in root.iterdir() if p.is_dir())
    found = []
    for d in dirs:
        for f in sorted(d.glob(f"*{STUDENT_SUFFIX}")) if d.is_dir() else []:
            if not f.is_file():
                continue
            entry = manifest.entry(f) or {}
            ts = parse_time(entry.get("created"))
            found.append((f, ts if ts is not None else f.stat().st_mtime))
    found.sort(key=lambda item: (item[1], item[0].name), reverse=True)
    return found


#: What each of the detector's loose models (:data:`fast_hamer_core.detection.assets.LOOSE_MODELS`) is
#: for, in the listing.
LOOSE_MODEL_USES: dict[str, str] = {
    "pose_detection.tflite": "hands at people's arms (thorough, stream): finds people",
    "pose_landmark_full.tflite": "hands at people's arms (thorough, stream): each person's arms",
    "hand_recrop.tflite": "hands at people's arms (thorough, stream): a hand's region from its arm",
    "palm_detection_lite.tflite": "thorough detection: the second (lite) palm detector",
}


def known_assets(models_dir: str | os.PathLike | None = None) -> list[Asset]:
    """Every asset slot: teacher (+ its config), MANO, detector, each student checkpoint present
    (or one placeholder row when there is none)."""
    ckpt, config = teacher_paths(models_dir)
    assets = [
        Asset(
            TEACHER_NAME,
            "teacher",
            ckpt,
            "training: the distillation teacher (HaMeR ViT-H)",
            "fast-hamer models fetch hamer",
        ),
        Asset(
            f"{TEACHER_NAME} config",
            "teacher",
            config,
            "training: HaMeR's model_config.yaml (checked on load)",
            "fast-hamer models fetch hamer",
            optional=True,
        ),
        Asset(
            "MANO",
            "MANO",
            paths.mano_dir(models_dir) / MANO_FILE_NAME,
            "meshes: vertices and 3D joints (node, infer, training)",
            "fast-hamer models fetch mano (licence-gated: explains the steps)",
        ),
        Asset(
            "detector",
            "detector",
            paths.detector_dir(models_dir) / DETECTOR_FILE_NAME,
            "hand detection (MediaPipe HandLandmarker): node, infer",
            "fast-hamer models fetch detector",
        ),
    ]
    # The wheel's loose models beside the bundle: built with it, or on first use (optional here).
    assets += [
        Asset(
            Path(file_name).stem,
            "detector",
            paths.detector_dir(models_dir) / file_name,
            needed_for,
            "fast-hamer models fetch detector (or built on first use)",
            optional=True,
        )
        for file_name, needed_for in LOOSE_MODEL_USES.items()
    ]
    students = student_checkpoints(models_dir)
    for path, _ in students:
        assets.append(
            Asset(
                path.parent.name,
                "student",
                path,
                "inference: the node, infer, bench, eval",
                "train one (distillation trainer) or fast-hamer models import FILE.pt",
            )
        )
    if not students:
        assets.append(
            Asset(
                "(no student yet)",
                "student",
                paths.students_dir(models_dir) / "<model>" / "<name>.pt",
                "inference: the node, infer, bench, eval",
                "train one (distillation trainer) or fast-hamer models import FILE.pt",
            )
        )
    return assets


def registry_names() -> list[str]:
    """Registered model names (empty if the model registry cannot be imported)."""
    try:
        from fast_hamer_core.models.registry import list_models
    except ImportError as err:  # torch/timm missing: name resolution still works on the files
        log.debug("model registry unavailable: %s", err)
        return []
    return list_models()


def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or "/" in text
        or text.startswith(("~", "."))
        or Path(text).suffix in (".pt", ".ckpt", ".pth", ".onnx", ".engine", ".safetensors")
    )


def _inventory(models_dir: str | os.PathLike | None) -> str:
    """One line: what checkpoints the models directory holds."""
    parts = []
    ckpt, _ = teacher_paths(models_dir)
    if ckpt.is_file():
        parts.append(f"{TEACHER_NAME} ({ckpt})")
    by_name: dict[str, int] = {}
    for path, _ in student_checkpoints(models_dir):
        by_name[path.parent.name] = by_name.get(path.parent.name, 0) + 1
    parts += [f"{n} ({c} checkpoint{'s' if c > 1 else ''})" for n, c in sorted(by_name.items())]
    return ", ".join(parts) if parts else "no checkpoints"


class UntrainedModelError(FileNotFoundError):
    """A known model name with no checkpoint in the models directory yet.

    The node and the demo treat it as "no mesh model": they run landmarks-only and say why; an explicit
    path that does not exist stays a plain FileNotFoundError."""


def reject_training_checkpoint(path: Path) -> None:
    """ValueError telling to run ``fast-hamer export-student`` when ``path`` is a ``fast-hamer train``
    checkpoint (it holds the student with the trainer's state; the runtime loaders take the export).

    Cheap: only ``.ckpt`` files are opened (memory-mapped, tensors and plain data only)."""
    if path.suffix != ".ckpt" or not path.is_file():
        return
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # HaMeR's own .ckpt holds a pickled config: not ours, let its loader read it
        return
    if isinstance(data, dict) and "fast_hamer_student" in data:
        step = data.get("global_step", "?")
        raise ValueError(
            f"{path} is a `fast-hamer train` checkpoint (step {step}), not a model checkpoint: export its "
            f"student first with `fast-hamer export-student {path} --out student.pt`, then pass student.pt"
        )


def resolve_checkpoint(name_or_path: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Path:
    """A checkpoint path from a path or a model name.

    An existing path is returned as is. ``hamer_vith`` resolves to ``hamer/hamer.ckpt``; any other name
    to the newest ``students/<name>/*.pt`` (creation time recorded in the manifest, else mtime).
    FileNotFoundError (naming the known names, what the models directory holds and how to get a
    checkpoint) when the path does not exist or the name is unknown; its subclass
    :class:`UntrainedModelError` when the name is known but nothing is there yet.
    """
    text = os.fspath(name_or_path)
    p = Path(text).expanduser()
    if text and p.exists():
        reject_training_checkpoint(p)
        return p
    root = paths.models_dir(models_dir)
    names = registry_names()
    known = f"known model names: {', '.join(names) if names else '(registry unavailable)'}"
    held = f"{root} holds: {_inventory(models_dir)}"
    if not text or _looks_like_path(text):
        raise FileNotFoundError(
            f"checkpoint not found: {p} (no such file). A model name also works; {known}. {held}."
        )
    if text == TEACHER_NAME:
        ckpt, _ = teacher_paths(models_dir)
        if ckpt.is_file():
            log.info("model name %s -> %s", text, ckpt)
            return ckpt
        raise UntrainedModelError(
            f"{TEACHER_NAME}: no HaMeR checkpoint at {ckpt}. Get it with "
            f"`fast-hamer models fetch hamer` (or `fast-hamer models import "
            f"hamer_demo_data.tar.gz` downloaded elsewhere). {held}."
        )
    found = student_checkpoints(models_dir, text)
    if found:
        chosen, created = found[0]
        others = (
            f"; {len(found) - 1} older: {', '.join(f.name for f, _ in found[1:4])}" if len(found) > 1 else ""
        )
        log.info(
            "model name %s -> %s (the newest of %d, created %s%s; pass a path to choose another)",
            text, chosen, len(found), iso_utc(created), others,
        )  # fmt: skip
        return chosen
    where = paths.students_dir(models_dir) / text
    if text in names:
        raise UntrainedModelError(
            f"{text}: no trained checkpoint in {where}/*{STUDENT_SUFFIX}. Train one with the "
            "distillation trainer, or `fast-hamer models import FILE.pt`. "
            f"{held}; {known}."
        )
    raise FileNotFoundError(
        f"{text!r} is neither an existing file nor a known model name; {known}. {held}. "
        "Get a checkpoint with `fast-hamer models fetch hamer` (teacher) or "
        "`fast-hamer models import FILE`."
    )
