"""What is this file? Cheap, safe identification of model assets, and ``import`` into the models dir.

Identification reads only what it must: zip member names, the ``.npy`` names of an ``.npz``, the first
headers of a tar archive, and, for PyTorch files, the opcodes of the pickle (``data.pkl``) walked
with :func:`pickletools.genops`, which parses without executing: no class is imported, no code runs.
Files are then loaded for real only by the loaders made to be safe (our ``.pt`` with
``torch.load(weights_only=True)``; MANO with its restricted unpickler).

Recognised (kind: what it is -> where it goes in the models directory):

- ``hamer_archive``: HaMeR's ``hamer_demo_data.tar.gz`` -> ``hamer/hamer.ckpt`` + ``hamer/model_config.yaml``
  (only those two members are extracted).
- ``hamer_folder``: a folder with ``checkpoints/hamer.ckpt`` and ``model_config.yaml`` (``_DATA``,
  ``_DATA/hamer_ckpts`` or its ``checkpoints`` folder) -> the same two files.
- ``hamer_ckpt``: a HaMeR Lightning ``.ckpt`` (``state_dict`` with ``backbone.*`` / ``mano_head.*`` of a
  ViT) -> ``hamer/hamer.ckpt`` (+ the ``model_config.yaml`` found beside it or one level up).
- ``lightning_student``: a Fast-HaMeR run folder (``model_config.yaml`` + ``checkpoints/*.ckpt``), its
  ``checkpoints`` folder or one of its ``.ckpt`` files (a non-ViT backbone) -> converted to our ``.pt``
  ``students/<model_name>/<run>-<ckpt stem>.pt`` with its provenance (source, backbone type, step).
- ``student``: our ``.pt`` (``{"format": "fast_hamer", ...}``) -> ``students/<model_name>/<stem>.pt``.
- ``mano``: ``MANO_RIGHT.pkl``, a MANO ``.npz``, the official ``mano_v*.zip`` -> ``mano/MANO_RIGHT.npz``.
- ``detector``: a MediaPipe hand-landmarker ``.task`` -> ``detector/hand_landmarker.task``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickletools
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fast_hamer_core import paths
from fast_hamer_core.assets import store
from fast_hamer_core.assets.download import check_free_space, format_bytes, sha256_file

log = logging.getLogger(__name__)

#: Members of a MediaPipe hand-landmarker ``.task`` zip.
TASK_MEMBERS: tuple[str, ...] = ("hand_detector.tflite", "hand_landmarks_detector.tflite")
TFLITE_IDENTIFIER = b"TFL3"  # bytes 4..8 of a TFLite flatbuffer
#: Arrays that make a pickle / npz a MANO model.
MANO_KEYS: frozenset[str] = frozenset({"v_template", "shapedirs", "J_regressor", "f"})
MANO_PKL_NAME = "MANO_RIGHT.pkl"
#: The legacy (pre-zip) torch.save format starts with this pickled number.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: HaMeR archive member paths (``fetch_demo_data.sh`` extracts ``_DATA/...``), matched as suffixes.
HAMER_CKPT_MEMBER = "hamer_ckpts/checkpoints/hamer.ckpt"
HAMER_CONFIG_MEMBER = "hamer_ckpts/model_config.yaml"
_TAR_PEEK_MEMBERS = 16

LOOKED_FOR = (
    "a HaMeR checkpoint folder (checkpoints/hamer.ckpt + model_config.yaml) or its .ckpt or "
    "hamer_demo_data.tar.gz; a Fast-HaMeR run folder (model_config.yaml + checkpoints/*.ckpt) or its "
    ".ckpt; a fast_hamer student .pt; MANO_RIGHT.pkl / a MANO .npz / the MANO zip; "
    "a MediaPipe hand landmarker .task (zip with hand_detector.tflite + hand_landmarks_detector.tflite)"
)


@dataclass(frozen=True)
class Identified:
    """What :func:`identify` found.

    Attributes:
        kind: ``hamer_archive``, ``hamer_folder``, ``hamer_ckpt``, ``lightning_student``, ``student``,
            ``mano`` or ``detector``.
        path: the file/folder identified.
        description: one line for humans.
        files: for HaMeR / Fast-HaMeR folders and ckpts: ``{"ckpt": Path, "config": Path | None}``.
        model_name: a student's model name as its header records it.
    """

    kind: str
    path: Path
    description: str
    files: dict[str, Path | None] = field(default_factory=dict)
    model_name: str | None = None


# --------------------------------------------------------------------------------------------------
# Pickle peeking (parse, never execute)


@dataclass
class PickleSummary:
    """Strings and globals a pickle mentions, in order of appearance (no object is built)."""

    strings: list[str] = field(default_factory=list)
    globals: set[str] = field(default_factory=set)
    first_int: int | None = None

    def after(self, key: str) -> str | None:
        """The string right after ``key`` (a dict value that was a fresh string), if any."""
        try:
            i = self.strings.index(key)
        except ValueError:
            return None
        return self.strings[i + 1] if i + 1 < len(self.strings) else None


def _scan_pickle(stream: IO[bytes], summary: PickleSummary | None = None) -> PickleSummary:
    """Walk one pickle's opcodes up to STOP with :func:`pickletools.genops` (nothing is executed)."""
    summary = summary or PickleSummary()
    for opcode, arg, _pos in pickletools.genops(stream):
        if isinstance(arg, str):
            if opcode.name == "GLOBAL":
                summary.globals.add(arg.replace(" ", "."))
            else:
                summary.strings.append(arg)
        elif (
            isinstance(arg, int) and summary.first_int is None and opcode.name.startswith(("LONG", "BININT"))
        ):
            summary.first_int = arg
    return summary


def torch_file_summary(path: Path) -> PickleSummary:
    """Strings of the object pickle of a ``torch.save`` file (zip ``*/data.pkl``, or the legacy format's
    4th pickle). ValueError if it is neither."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                pkl = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not pkl:
                    raise ValueError(f"{path}: zip without a data.pkl: not a PyTorch file")
                with zf.open(min(pkl, key=len)) as f:
                    return _scan_pickle(f)
        with open(path, "rb") as f:
            first = _scan_pickle(f)
            if first.first_int != TORCH_LEGACY_MAGIC:
                return first  # a plain pickle: its only object is the one we want
            _scan_pickle(f)  # protocol version
            _scan_pickle(f)  # sys info
            return _scan_pickle(f)
    except (ValueError, EOFError, zipfile.BadZipFile, OSError) as err:
        if isinstance(err, ValueError) and "not a PyTorch file" in str(err):
            raise
        raise ValueError(
            f"{path}: cannot parse it as a pickle / PyTorch file ({type(err).__name__}: {err})"
        ) from err


def _is_pickle(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(2)
    return (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head[:1] in (b"(", b"}", b"]")


def _hamer_state_keys(summary: PickleSummary) -> bool:
    s = summary.strings
    return (
        "state_dict" in s
        and any(k.startswith("backbone.") for k in s)
        and any(k.startswith("mano_head.") for k in s)
    )


#: A key only HaMeR's ViT backbone has (a KD run's teacher has it under ``teacher.``, which is no match).
VIT_STATE_KEY = "backbone.patch_embed.proj.weight"


def _is_vit_state(summary: PickleSummary) -> bool:
    return VIT_STATE_KEY in summary.strings


def _is_ours(summary: PickleSummary) -> bool:
    return summary.after("format") == "fast_hamer" and "model_name" in summary.strings


# --------------------------------------------------------------------------------------------------
# Identification


def _hamer_config_near(ckpt: Path) -> Path | None:
    for candidate in (ckpt.parent.parent / store.HAMER_CONFIG_NAME, ckpt.parent / store.HAMER_CONFIG_NAME):
        if candidate.is_file():
            return candidate
    return None


def _identify_dir(p: Path) -> Identified:
    for base in (p, p / "hamer_ckpts", p / "_DATA" / "hamer_ckpts"):
        ckpt = base / "checkpoints" / store.HAMER_CKPT_NAME
        if ckpt.is_file():
            cfg = base / store.HAMER_CONFIG_NAME
            return Identified(
                "hamer_folder",
                p,
                f"HaMeR checkpoint folder ({ckpt})",
                {"ckpt": ckpt, "config": cfg if cfg.is_file() else None},
            )
    if (p / store.HAMER_CKPT_NAME).is_file():  # the checkpoints folder itself (config one level up)
        ckpt = p / store.HAMER_CKPT_NAME
        return Identified(
            "hamer_folder",
            p,
            f"HaMeR checkpoints folder ({ckpt})",
            {"ckpt": ckpt, "config": _hamer_config_near(ckpt)},
        )
    for name in (store.MANO_FILE_NAME, MANO_PKL_NAME):
        if (p / name).is_file():
            return Identified("mano", p, f"folder with the MANO model ({name})")
    if any((p / "checkpoints").glob("*.ckpt")) or any(p.glob("*.ckpt")):
        from fast_hamer_core.models.lightning import find_run_checkpoint

        ckpt = find_run_checkpoint(p)
        ident = _identify_torch(ckpt)
        return Identified(ident.kind, p, f"{ident.description} in run folder {p}", ident.files)
    raise ValueError(
        f"{p}: folder not recognised: no checkpoints/hamer.ckpt (+ model_config.yaml), "
        f"hamer_ckpts/ or _DATA/hamer_ckpts/, checkpoints/*.ckpt, {MANO_PKL_NAME} or {store.MANO_FILE_NAME} "
        "in it. "
        f"Import accepts {LOOKED_FOR}."
    )


def _identify_zip(p: Path) -> Identified:
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
    base = {n.rsplit("/", 1)[-1] for n in names}
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return _identify_torch(p)
    if set(TASK_MEMBERS) <= base:
        return Identified("detector", p, "MediaPipe hand landmarker bundle (.task)")
    if MANO_PKL_NAME in base:
        return Identified("mano", p, f"MANO archive with {MANO_PKL_NAME}")
    npy = {n[: -len(".npy")] for n in names if n.endswith(".npy")}
    if npy >= MANO_KEYS:
        from fast_hamer_core.synth.mano import SYNTHETIC_MARKER_KEY

        if SYNTHETIC_MARKER_KEY in npy:
            return Identified("mano", p, "SYNTHETIC MANO model (.npz from fast-hamer synth-data)")
        return Identified("mano", p, "MANO model (.npz)")
    shown = ", ".join(sorted(names)[:8]) + (" ..." if len(names) > 8 else "")
    raise ValueError(
        f"{p}: zip archive not recognised (members: {shown or 'none'}). Looked for: a PyTorch checkpoint "
        f"(*/data.pkl), a .task ({' + '.join(TASK_MEMBERS)}), the MANO zip (.../{MANO_PKL_NAME}) "
        f"or a MANO .npz ({', '.join(sorted(MANO_KEYS))}.npy)."
    )


def _identify_torch(p: Path) -> Identified:
    summary = torch_file_summary(p)
    if _is_ours(summary):
        name = summary.after("model_name")
        return Identified("student", p, f"fast_hamer student checkpoint ({name})", model_name=name)
    if _hamer_state_keys(summary) and _is_vit_state(summary):
        return Identified(
            "hamer_ckpt",
            p,
            "HaMeR Lightning checkpoint (backbone + mano_head state_dict)",
            {"ckpt": p, "config": _hamer_config_near(p)},
        )
    if _hamer_state_keys(summary):
        return Identified(
            "lightning_student",
            p,
            "Fast-HaMeR Lightning checkpoint (student backbone + mano_head state_dict)",
            {"ckpt": p, "config": _hamer_config_near(p)},
        )
    if set(summary.strings) >= MANO_KEYS:
        return Identified("mano", p, "MANO model (pickle)")
    raise ValueError(
        f"{p}: a pickle / PyTorch file, but neither a fast_hamer checkpoint (format 'fast_hamer'), "
        "a HaMeR checkpoint (state_dict with backbone.* and mano_head.*) nor a MANO model "
        f"({', '.join(sorted(MANO_KEYS))})."
    )


def _is_hamer_member(name: str) -> bool:
    name = name.removeprefix("./")
    return name == "_DATA" or name.startswith("_DATA/") or "hamer_ckpts/" in name


def _tar_member_names(p: Path, limit: int = _TAR_PEEK_MEMBERS) -> list[str]:
    """Member names from the start of a (compressed) tar, read as a stream: up to ``limit``, or up to
    the first one of HaMeR's layout (the archive holds GBs; we never read further than needed)."""
    names = []
    with tarfile.open(p, mode="r|*") as tf:
        for member in tf:
            names.append(member.name)
            if len(names) >= limit or _is_hamer_member(member.name):
                break
    return names


def _identify_tar(p: Path) -> Identified:
    try:
        names = _tar_member_names(p)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{p}: unreadable tar archive ({err})") from err
    clean = [n.removeprefix("./") for n in names]
    if any(_is_hamer_member(n) for n in names):
        return Identified("hamer_archive", p, "HaMeR demo-data archive (hamer_demo_data.tar.gz)")
    raise ValueError(
        f"{p}: tar archive not recognised: its first members ({', '.join(clean[:5])}) are not "
        f"HaMeR's _DATA/... layout. Import accepts {LOOKED_FOR}."
    )


def identify(path: str | os.PathLike) -> Identified:
    """Identify a model asset from its content (cheaply and safely, see the module docstring).

    FileNotFoundError if ``path`` does not exist; ValueError saying what was looked for otherwise.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"nothing to import: {p} does not exist")
    if p.is_dir():
        return _identify_dir(p)
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: empty file. Import accepts {LOOKED_FOR}.")
    if zipfile.is_zipfile(p):
        return _identify_zip(p)
    if _is_pickle(p):
        return _identify_torch(p)
    with open(p, "rb") as f:
        head = f.read(512)
    if (
        head[:2] == b"\x1f\x8b"
        or head[:3] == b"BZh"
        or head[:6] == b"\xfd7zXZ\x00"
        or head[257:262] == b"ustar"
    ):
        return _identify_tar(p)
    raise ValueError(
        f"{p}: not recognised (neither a zip, a pickle / PyTorch file nor a tar archive). "
        f"Import accepts {LOOKED_FOR}."
    )


# --------------------------------------------------------------------------------------------------
# Import


def copy_verified(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` atomically (temp file + rename), checking free space; returns the sha256."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    size = src.stat().st_size
    check_free_space(dst.parent, size, f"copying {src.name}")
    tmp = dst.with_name(dst.name + ".importing")
    h = hashlib.sha256()
    try:
        with open(src, "rb") as fi, open(tmp, "wb") as fo:
            while block := fi.read(1 << 20):
                h.update(block)
                fo.write(block)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return h.hexdigest()


def tflite_problem(name: str, head: bytes) -> str | None:
    """Why ``head`` (a file's first 8 bytes) is not a TFLite model's start, or ``None`` when it is."""
    if head[4:8] != TFLITE_IDENTIFIER:
        return f"{name} is not a TFLite model (no {TFLITE_IDENTIFIER.decode()} identifier)"
    return None


def check_task_file(path: Path) -> list[str]:
    """Problems of a ``.task`` bundle: missing members or members that are not TFLite models."""
    problems = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for member in TASK_MEMBERS:
                if member not in names:
                    problems.append(f"missing member {member}")
                    continue
                with zf.open(member) as f:
                    problem = tflite_problem(member, f.read(8))
                if problem:
                    problems.append(problem)
    except (zipfile.BadZipFile, OSError) as err:
        problems.append(f"not a readable zip ({err})")
    return problems


def _import_hamer(ident: Identified, root: Path, manifest: store.Manifest) -> list[Path]:
    ckpt_dst, cfg_dst = store.teacher_paths(root)
    if ident.kind == "hamer_archive":
        from fast_hamer_core.assets.hamer import extract_hamer_archive

        result = extract_hamer_archive(ident.path, ckpt_dst.parent)
        manifest.record(
            result.ckpt,
            kind="teacher",
            name=store.TEACHER_NAME,
            source=str(ident.path),
            sha256=result.ckpt_sha256,
        )
        manifest.record(
            result.config,
            kind="teacher",
            name=f"{store.TEACHER_NAME} config",
            source=str(ident.path),
            sha256=result.config_sha256,
        )
        return [result.ckpt, result.config]
    ckpt = ident.files["ckpt"]
    assert ckpt is not None
    summary = torch_file_summary(ckpt)
    if not _hamer_state_keys(summary):
        raise ValueError(
            f"{ckpt}: not a HaMeR checkpoint (no state_dict with backbone.* and mano_head.* keys)"
        )
    out = [ckpt_dst]
    digest = copy_verified(ckpt, ckpt_dst)
    manifest.record(ckpt_dst, kind="teacher", name=store.TEACHER_NAME, source=str(ckpt), sha256=digest)
    cfg = ident.files.get("config")
    if cfg is not None:
        digest = copy_verified(cfg, cfg_dst)
        manifest.record(
            cfg_dst, kind="teacher", name=f"{store.TEACHER_NAME} config", source=str(cfg), sha256=digest
        )
        out.append(cfg_dst)
    else:
        log.warning(
            "%s: no %s beside it or one level up; imported the checkpoint alone (the teacher's "
            "architecture is built in, the yaml only double-checks it)",
            ckpt,
            store.HAMER_CONFIG_NAME,
        )
    return out


def _import_student(ident: Identified, root: Path, manifest: store.Manifest, force: bool) -> list[Path]:
    from fast_hamer_core.assets.verify import student_problems
    from fast_hamer_core.models.checkpoint import load_checkpoint

    config, state, metadata = load_checkpoint(ident.path)  # weights_only=True: nothing executes
    problems = student_problems(config, state)
    if problems:
        raise ValueError(f"{ident.path}: refusing a broken student checkpoint: {'; '.join(problems)}")
    dst = paths.students_dir(root) / config.name / (ident.path.stem + store.STUDENT_SUFFIX)
    if dst.exists() and not force and sha256_file(dst) != sha256_file(ident.path):
        raise ValueError(
            f"{dst} already exists with different content; rename the file you import or pass "
            "--force to replace it"
        )
    digest = copy_verified(ident.path, dst)
    created = store.created_from_metadata(metadata) or store.iso_utc(ident.path.stat().st_mtime)
    manifest.record(
        dst, kind="student", name=config.name, source=str(ident.path), sha256=digest, created=created
    )
    return [dst]


def _run_label(ckpt: Path) -> str:
    """``<run folder>-<ckpt stem>`` as a safe file stem (``resnet_50_kd_full-last``)."""
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{run.name}-{ckpt.stem}").strip("_.") or "imported"


def _import_lightning_student(
    ident: Identified, root: Path, manifest: store.Manifest, force: bool
) -> list[Path]:
    """Convert a Fast-HaMeR ``.ckpt`` to our ``.pt`` (weights checked by a strict load; provenance kept)."""
    import torch

    from fast_hamer_core.models.checkpoint import build_empty, load_weights, read_checkpoint, save_checkpoint

    ckpt = ident.files["ckpt"]
    assert ckpt is not None
    config, state, provenance = read_checkpoint(ckpt)
    model = build_empty(config, torch.device("cpu"))
    load_weights(model, state, source=str(ckpt))
    dst = paths.students_dir(root) / config.name / (_run_label(ckpt) + store.STUDENT_SUFFIX)
    if dst.exists() and not force:
        raise ValueError(f"{dst} already exists; pass --force to convert {ckpt} again and replace it")
    created = store.iso_utc(ckpt.stat().st_mtime)
    metadata = {**provenance, "created": created, "imported": store.utc_now_iso()}
    check_free_space(
        dst.parent if dst.parent.exists() else root,
        sum(v.numel() * v.element_size() for v in state.values()),
        "the converted checkpoint",
    )
    save_checkpoint(dst, model, metadata=metadata)
    manifest.record(
        dst,
        kind="student",
        name=config.name,
        source=str(ckpt),
        created=created,
        provenance=store.describe_provenance(metadata),
    )
    return [dst]


def _import_mano(ident: Identified, root: Path, manifest: store.Manifest) -> list[Path]:
    from fast_hamer_core.mano import import_mano
    from fast_hamer_core.synth.mano import SYNTHETIC_MANO_MESSAGE, is_synthetic_mano

    if is_synthetic_mano(ident.path):
        raise ValueError(f"{ident.path} {SYNTHETIC_MANO_MESSAGE}")

    out = import_mano(ident.path, paths.mano_dir(root))
    manifest.record(out, kind="MANO", name="MANO", source=str(ident.path))
    return [out]


def _import_detector(ident: Identified, root: Path, manifest: store.Manifest) -> list[Path]:
    problems = check_task_file(ident.path)
    if problems:
        raise ValueError(f"{ident.path}: not a usable hand landmarker bundle: {'; '.join(problems)}")
    dst = paths.detector_dir(root) / store.DETECTOR_FILE_NAME
    digest = copy_verified(ident.path, dst)
    manifest.record(dst, kind="detector", name="detector", source=str(ident.path), sha256=digest)
    return [dst]


def import_asset(
    path: str | os.PathLike, models_dir: str | os.PathLike | None = None, force: bool = False
) -> tuple[Identified, list[Path]]:
    """Identify ``path`` and file it into the models directory; record checksums in the manifest.

    Returns (what it was, the files written). Raises ValueError (with what was looked for) for
    anything unrecognised or broken; nothing is written then.
    """
    ident = identify(path)
    root = paths.models_dir(models_dir)
    manifest = store.Manifest(root)
    if ident.kind in ("hamer_archive", "hamer_folder", "hamer_ckpt"):
        written = _import_hamer(ident, root, manifest)
    elif ident.kind == "student":
        written = _import_student(ident, root, manifest, force)
    elif ident.kind == "lightning_student":
        written = _import_lightning_student(ident, root, manifest, force)
    elif ident.kind == "mano":
        written = _import_mano(ident, root, manifest)
    elif ident.kind == "detector":
        written = _import_detector(ident, root, manifest)
    else:  # pragma: no cover - identify only returns the kinds above
        raise ValueError(f"{path}: cannot import a {ident.kind}")
    manifest.save()
    for w in written:
        log.info("imported %s (%s)", w, format_bytes(w.stat().st_size))
    return ident, written
