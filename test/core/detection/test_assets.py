"""The hand_landmarker.task bundle: resolution order, the offline build from the wheel, clear errors."""

from __future__ import annotations

import struct
import zipfile

import pytest

from fast_hamer_core.detection import assets
from fast_hamer_core.detection.assets import (
    LOOSE_MODELS,
    MODEL_ENV,
    OFFICIAL_TASK_URL,
    TASK_MEMBERS,
    build_task_from_wheel,
    check_task,
    ensure_detector_model,
    ensure_loose_model,
)


def _fake_tflite(tag: bytes) -> bytes:
    """A minimal flatbuffer with the TFLite file identifier (root offset, then ``TFL3``), plus a payload."""
    return struct.pack("<I", 16) + b"TFL3" + b"\0" * 8 + tag * 50


def _fake_wheel(path, members=None):
    """A zip laid out like the mediapipe 0.10.21 wheel, with the model members at their real paths."""
    members = (
        members
        if members is not None
        else {
            TASK_MEMBERS["hand_detector.tflite"]: _fake_tflite(b"palm"),
            TASK_MEMBERS["hand_landmarks_detector.tflite"]: _fake_tflite(b"land"),
        }
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mediapipe/__init__.py", "")
        zf.writestr("mediapipe-0.10.21.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_build_from_fake_wheel_has_both_members_aligned(tmp_path):
    wheel = _fake_wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl")
    out = build_task_from_wheel(wheel, tmp_path / "models" / "detector" / "hand_landmarker.task")
    assert check_task(out) == out
    with zipfile.ZipFile(out) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        assert set(infos) == {"hand_detector.tflite", "hand_landmarks_detector.tflite"}
        assert zf.read("hand_detector.tflite") == _fake_tflite(b"palm")
        assert zf.read("hand_landmarks_detector.tflite") == _fake_tflite(b"land")
    raw = out.read_bytes()
    for info in infos.values():
        assert info.compress_type == zipfile.ZIP_STORED
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        data_start = info.header_offset + 30 + name_len + extra_len
        assert data_start % assets.MEMBER_ALIGNMENT == 0
        assert raw[data_start + 4 : data_start + 8] == b"TFL3"
    assert not list(out.parent.glob("*.tmp"))  # written atomically


def test_build_rejects_wrong_wheels(tmp_path):
    with pytest.raises(FileNotFoundError, match="wheel not found"):
        build_task_from_wheel(tmp_path / "nope.whl", tmp_path / "x.task")
    (tmp_path / "text.whl").write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        build_task_from_wheel(tmp_path / "text.whl", tmp_path / "x.task")
    only_palm = {TASK_MEMBERS["hand_detector.tflite"]: _fake_tflite(b"palm")}
    with pytest.raises(ValueError, match=r"hand_landmark_full\.tflite"):
        build_task_from_wheel(_fake_wheel(tmp_path / "a.whl", only_palm), tmp_path / "x.task")
    not_tflite = {name: b"garbage!" * 4 for name in TASK_MEMBERS.values()}
    with pytest.raises(ValueError, match="not a TFLite model"):
        build_task_from_wheel(_fake_wheel(tmp_path / "b.whl", not_tflite), tmp_path / "x.task")
    assert not (tmp_path / "x.task").exists()


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    wheel = _fake_wheel(tmp_path / "w.whl")
    explicit = build_task_from_wheel(wheel, tmp_path / "explicit.task")
    from_env = build_task_from_wheel(wheel, tmp_path / "env.task")
    cached = build_task_from_wheel(wheel, tmp_path / "models" / "detector" / "hand_landmarker.task")
    models = tmp_path / "models"

    assert ensure_detector_model(models_dir=models, allow_build=False) == cached
    monkeypatch.setenv(MODEL_ENV, str(from_env))
    assert ensure_detector_model(models_dir=models, allow_build=False) == from_env
    assert ensure_detector_model(explicit, models_dir=models, allow_build=False) == explicit


def test_missing_explicit_paths_are_errors_not_fallbacks(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    build_task_from_wheel(
        _fake_wheel(tmp_path / "w.whl"), tmp_path / "models" / "detector" / "hand_landmarker.task"
    )
    with pytest.raises(FileNotFoundError, match=r"given.*missing\.task"):
        ensure_detector_model(tmp_path / "missing.task", models_dir=tmp_path / "models")
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "env_missing.task"))
    with pytest.raises(FileNotFoundError, match=f"\\${MODEL_ENV}.*env_missing.task"):
        ensure_detector_model(models_dir=tmp_path / "models")
    (tmp_path / "plain.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    monkeypatch.delenv(MODEL_ENV)
    with pytest.raises(ValueError, match=r"missing hand_detector\.tflite"):
        ensure_detector_model(tmp_path / "plain.zip")


def test_nothing_found_lists_the_three_fixes(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        ensure_detector_model(models_dir=tmp_path / "empty_models", allow_build=False)
    message = str(info.value)
    assert "--detector-model" in message and MODEL_ENV in message
    assert "fast-hamer models fetch detector" in message and "mediapipe==0.10.21" in message
    assert OFFICIAL_TASK_URL in message
    assert str(tmp_path / "empty_models" / "detector" / "hand_landmarker.task") in message


def test_failed_build_reports_the_fixes_and_the_cause(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)

    def no_index(dest_dir, python=None):
        raise RuntimeError("could not download mediapipe==0.10.21 with pip: no network")

    monkeypatch.setattr(assets, "download_wheel", no_index)
    with pytest.raises(FileNotFoundError, match=r"(?s)three ways.*no network"):
        ensure_detector_model(models_dir=tmp_path / "m")


def test_real_bundle_holds_both_tflite_models(task_path):
    """The bundle the session resolved (built once from the real wheel into the models directory)."""
    with zipfile.ZipFile(task_path) as zf:
        for name in TASK_MEMBERS:
            data = zf.read(name)
            assert data[4:8] == b"TFL3" and len(data) > 1_000_000


def _full_fake_wheel(path):
    """A fake wheel with the hand models and the loose models at their real paths."""
    members = {
        TASK_MEMBERS["hand_detector.tflite"]: _fake_tflite(b"palm"),
        TASK_MEMBERS["hand_landmarks_detector.tflite"]: _fake_tflite(b"land"),
    }
    members.update({wheel_name: _fake_tflite(name[:4].encode()) for name, wheel_name in LOOSE_MODELS.items()})
    return _fake_wheel(path, members)


def test_one_wheel_download_gives_the_bundle_and_the_loose_models(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    downloads = []

    def fake_download(dest_dir, python=None):
        downloads.append(dest_dir)
        return _full_fake_wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl")

    monkeypatch.setattr(assets, "download_wheel", fake_download)
    models = tmp_path / "models"
    loose = {name: ensure_loose_model(name, models_dir=models) for name in LOOSE_MODELS}
    task = ensure_detector_model(models_dir=models)
    assert len(downloads) == 1  # the first loose model fetched everything
    assert check_task(task) == models / "detector" / "hand_landmarker.task"
    for name, path in loose.items():
        assert path == models / "detector" / name
        assert path.read_bytes() == _fake_tflite(name[:4].encode())
    assert not list((models / "detector").glob("*.tmp"))


def test_loose_model_errors_are_clear(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown loose model"):
        ensure_loose_model("face.tflite", models_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"given.*missing\.tflite"):
        ensure_loose_model("pose_detection.tflite", tmp_path / "missing.tflite")
    (tmp_path / "text.tflite").write_text("not a model")
    with pytest.raises(ValueError, match="not a TFLite model"):
        ensure_loose_model("pose_detection.tflite", tmp_path / "text.tflite")
    with pytest.raises(FileNotFoundError, match=r"pose_landmark_full\.tflite.*mediapipe==0\.10\.21"):
        ensure_loose_model("pose_landmark_full.tflite", models_dir=tmp_path / "m", allow_build=False)
    hand_only = _fake_wheel(tmp_path / "hand_only.whl")  # the hand models only: the body models are missing
    monkeypatch.setattr(assets, "download_wheel", lambda dest_dir, python=None: hand_only)
    with pytest.raises(FileNotFoundError, match=r"(?s)building it failed.*pose_detection\.tflite"):
        ensure_loose_model("pose_detection.tflite", models_dir=tmp_path / "m2")


def test_real_loose_models_are_tflite():
    for name in LOOSE_MODELS:
        path = ensure_loose_model(name)
        with path.open("rb") as fh:
            assert fh.read(8)[4:8] == b"TFL3"
