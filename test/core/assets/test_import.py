"""``import``: every asset kind generated in its real format is recognised and filed; the rest refused."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.mano import (
    make_synthetic_mano_arrays,
    write_synthetic_mano_npz,
    write_synthetic_mano_pkl,
    write_synthetic_mano_zip,
)

from fast_hamer_core.assets.identify import identify, import_asset
from fast_hamer_core.assets.store import Manifest, resolve_checkpoint


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> list[str]:
    return (
        sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        if root.exists()
        else []
    )


@pytest.mark.parametrize("source", ["data_dir", "folder", "ckpt", "archive"])
def test_import_hamer(source, hamer_files, models_dir):
    ident, written = import_asset(hamer_files[source])
    assert (
        ident.kind
        == {
            "data_dir": "hamer_folder",
            "folder": "hamer_folder",
            "ckpt": "hamer_ckpt",
            "archive": "hamer_archive",
        }[source]
    )
    ckpt, config = models_dir / "hamer" / "hamer.ckpt", models_dir / "hamer" / "model_config.yaml"
    assert written == [ckpt, config]
    assert ckpt.read_bytes() == hamer_files["ckpt"].read_bytes()  # not the AppleDouble twin in the archive
    assert config.read_bytes() == hamer_files["config"].read_bytes()
    manifest = Manifest(models_dir)
    assert manifest.entry(ckpt)["sha256"] == _sha(ckpt)
    assert manifest.entry(config)["sha256"] == _sha(config)
    assert resolve_checkpoint("hamer_vith") == ckpt
    assert _files(models_dir) == ["hamer/hamer.ckpt", "hamer/model_config.yaml", "manifest.json"]


def test_import_student_files_it_under_its_model_name(save_student, tiny_student, tmp_path, models_dir):
    src = save_student(tmp_path / "run" / "best.pt", created="2024-01-02T03:04:05Z", step=100)
    assert identify(src).kind == "student" and identify(src).model_name == tiny_student
    _, written = import_asset(src)
    dst = models_dir / "students" / tiny_student / "best.pt"
    assert written == [dst] and dst.read_bytes() == src.read_bytes()
    entry = Manifest(models_dir).entry(dst)
    assert entry["created"] == "2024-01-02T03:04:05+00:00" and entry["name"] == tiny_student
    import_asset(src)  # the same file again is fine
    other = save_student(tmp_path / "other" / "best.pt", created="2025-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="already exists with different content"):
        import_asset(other)
    assert dst.read_bytes() == src.read_bytes()
    import_asset(other, force=True)
    assert dst.read_bytes() == other.read_bytes()


@pytest.mark.parametrize("fmt", ["npz", "pkl", "zip", "folder"])
def test_import_mano(fmt, tmp_path, models_dir):
    src = {
        "npz": lambda: write_synthetic_mano_npz(tmp_path / "m.npz"),
        "pkl": lambda: write_synthetic_mano_pkl(tmp_path / "MANO_RIGHT.pkl", chumpy=True),
        "zip": lambda: write_synthetic_mano_zip(tmp_path / "mano_v1_2.zip"),
        "folder": lambda: write_synthetic_mano_pkl(tmp_path / "models" / "MANO_RIGHT.pkl").parent,
    }[fmt]()
    ident, written = import_asset(src, models_dir)
    assert ident.kind == "mano"
    dst = models_dir / "mano" / "MANO_RIGHT.npz"
    assert written == [dst]
    with np.load(dst) as npz:
        np.testing.assert_allclose(npz["v_template"], make_synthetic_mano_arrays(0)["v_template"], atol=1e-6)
    assert Manifest(models_dir).entry(dst)["sha256"] == _sha(dst)


def test_import_task(task_file, models_dir):
    ident, written = import_asset(task_file)
    assert ident.kind == "detector"
    dst = models_dir / "detector" / "hand_landmarker.task"
    assert written == [dst] and dst.read_bytes() == task_file.read_bytes()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


REFUSALS = {
    "random.bin": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not recognised"),
    "notes.txt": (lambda p: p.write_text("hello"), "not recognised"),
    "empty.pt": (lambda p: p.write_bytes(b""), "empty file"),
    "other.zip": (lambda p: _zip(p, {"a/readme.md": b"x"}), "zip archive not recognised"),
    "weights.pt": (
        lambda p: torch.save({"layer.weight": torch.zeros(2)}, p),
        "neither a fast_hamer checkpoint",
    ),
    "data.tar.gz": (lambda p: _tgz(p, {"images/0.jpg": b"x"}), "tar archive not recognised"),
    "bad.task": (
        lambda p: _zip(p, {"hand_detector.tflite": b"1234XXXX", "hand_landmarks_detector.tflite": b"1"}),
        "not a TFLite model",
    ),
    "folder": (lambda p: p.mkdir(), "folder not recognised"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_unknown_files_are_refused_saying_why(name, tmp_path, models_dir):
    make, reason = REFUSALS[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError, match=reason) as err:
        import_asset(path)
    message = str(err.value)
    assert str(path) in message
    if "not recognised" in reason:  # says what it looked for
        assert "HaMeR" in message or "MANO" in message or "data.pkl" in message
    assert _files(models_dir) == []  # nothing written, not even a manifest


class _Evil:
    """Unpickling this would run code (create the marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_identification_never_runs_pickled_code(tmp_path, models_dir):
    marker = tmp_path / "pwned"
    plain = tmp_path / "MANO_RIGHT.pkl"
    plain.write_bytes(pickle.dumps({"v_template": _Evil(marker)}, protocol=2))
    with pytest.raises(ValueError):
        import_asset(plain)
    ours = tmp_path / "student.pt"  # looks like ours to the peek, but carries code
    torch.save({"format": "fast_hamer", "model_name": "mobilenetv3_large", "evil": _Evil(marker)}, ours)
    assert identify(ours).kind == "student"
    with pytest.raises(ValueError):  # CheckpointError from the weights-only load
        import_asset(ours)
    assert not marker.exists()
    assert not (models_dir / "students").exists()


def test_manifest_is_plain_json(hamer_files, task_file, models_dir):
    import_asset(hamer_files["archive"])
    import_asset(task_file)
    data = json.loads((models_dir / "manifest.json").read_text())
    assert set(data["assets"]) == {
        "hamer/hamer.ckpt",
        "hamer/model_config.yaml",
        "detector/hand_landmarker.task",
    }
    assert all(len(e["sha256"]) == 64 and e["size"] > 0 for e in data["assets"].values())
