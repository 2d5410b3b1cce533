"""Name resolution, ``models list`` / ``verify`` / ``fetch mano`` / ``resolve`` and the manifest."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from fixtures.cli import run_cli as run_subcommand
from fixtures.mano import write_synthetic_mano_npz

from fast_hamer_core.assets.identify import import_asset
from fast_hamer_core.assets.store import LOOSE_MODEL_USES, Manifest, resolve_checkpoint
from fast_hamer_core.cli import models as models_cli


def run_cli(*argv: str) -> int:
    """``fast-hamer models ...`` through the sub-command's own parser."""
    return run_subcommand(models_cli, ["models", *argv], prog="fast-hamer")


def _set_mtime(path: Path, ts: float) -> None:
    os.utime(path, (ts, ts))


# -- resolution -------------------------------------------------------------------------------------


def test_existing_path_is_returned_as_is(tmp_path):
    f = tmp_path / "any.pt"
    f.write_bytes(b"x")
    assert resolve_checkpoint(str(f), tmp_path / "models") == f


def test_name_resolves_to_newest_by_recorded_creation_time(save_student, tiny_student, tmp_path, models_dir):
    old = save_student(tmp_path / "a" / "old.pt", created="2024-01-01T00:00:00Z")
    new = save_student(tmp_path / "b" / "new.pt", created="2025-06-01T00:00:00Z")
    import_asset(old)
    import_asset(new)
    students = models_dir / "students" / tiny_student
    _set_mtime(students / "old.pt", 2_000_000_000)  # touched later, but trained earlier
    _set_mtime(students / "new.pt", 1_000_000_000)
    assert resolve_checkpoint(tiny_student) == students / "new.pt"


def test_name_resolves_to_newest_by_mtime_without_manifest(tmp_path, monkeypatch):
    root = tmp_path / "elsewhere"  # explicit models_dir wins over $FAST_HAMER_MODELS
    monkeypatch.setenv("FAST_HAMER_MODELS", str(tmp_path / "unused"))
    d = root / "students" / "mobilenetv3_large"
    d.mkdir(parents=True)
    for name, ts in (
        ("step1000.pt", 1_000_000_000),
        ("step3000.pt", 1_000_000_300),
        ("step2000.pt", 1_000_000_200),
    ):
        (d / name).write_bytes(b"x")
        _set_mtime(d / name, ts)
    (d / "notes.txt").write_text("not a checkpoint")
    assert resolve_checkpoint("mobilenetv3_large", root) == d / "step3000.pt"


def test_unknown_or_missing_names_explain_what_exists(save_student, tiny_student, tmp_path, models_dir):
    import_asset(save_student(tmp_path / "x.pt"))
    with pytest.raises(FileNotFoundError) as err:
        resolve_checkpoint("mobilenet_tiny_typo")
    msg = str(err.value)
    assert "mobilenetv3_large" in msg and "hamer_vith" in msg  # the known names
    assert f"{tiny_student} (1 checkpoint)" in msg and str(models_dir) in msg  # what is there
    assert "fast-hamer models" in msg  # how to get one
    with pytest.raises(FileNotFoundError, match=r"no trained checkpoint in .*convnext_tiny"):
        resolve_checkpoint("convnext_tiny")
    with pytest.raises(FileNotFoundError, match="fetch hamer"):
        resolve_checkpoint("hamer_vith")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        resolve_checkpoint(str(tmp_path / "nope" / "best.pt"))


def test_cli_resolve(save_student, tiny_student, tmp_path, models_dir, capsys):
    import_asset(save_student(tmp_path / "s.pt"))
    assert run_cli("--models-dir", str(models_dir), "resolve", tiny_student) == 0
    assert capsys.readouterr().out.strip() == str(models_dir / "students" / tiny_student / "s.pt")


# -- list / verify ------------------------------------------------------------------------------------


@pytest.fixture
def full_models_dir(hamer_files, task_file, save_student, tmp_path, models_dir) -> Path:
    """Every asset kind imported into ``models_dir``."""
    import_asset(hamer_files["archive"])
    import_asset(task_file)
    import_asset(write_synthetic_mano_npz(tmp_path / "mano_src" / "MANO_RIGHT.npz"))
    import_asset(save_student(tmp_path / "run" / "best.pt"))
    return models_dir


def _row(out: str, start: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(start))


def test_list_shows_every_asset_with_checksum_status(full_models_dir, tiny_student, capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    for name, kind in (
        ("hamer_vith ", "teacher"),
        ("MANO ", "MANO"),
        ("detector ", "detector"),
        (tiny_student, "student"),
    ):
        row = _row(out, name)
        assert kind in row and " ok " in row and str(full_models_dir) in row
    assert "MiB" in _row(out, "MANO ") and "meshes" in _row(out, "MANO ")

    # A student dropped in without import: unknown. A changed file: mismatch.
    extra = full_models_dir / "students" / tiny_student / "copied.pt"
    extra.write_bytes((full_models_dir / "students" / tiny_student / "best.pt").read_bytes())
    task = full_models_dir / "detector" / "hand_landmarker.task"
    task.write_bytes(task.read_bytes() + b"\0")
    assert run_cli("list", "--rehash") == 0
    out = capsys.readouterr().out
    assert " unknown " in next(line for line in out.splitlines() if "copied.pt" in line)
    assert " mismatch " in _row(out, "detector ")


def test_list_of_an_empty_dir_says_how_to_get_each_asset(models_dir, capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    assert "fast-hamer models fetch hamer" in _row(out, "hamer_vith ")
    assert "fetch detector" in _row(out, "detector ") and "fetch mano" in _row(out, "MANO ")
    assert "models import FILE.pt" in _row(out, "(no student yet)")


def test_verify_passes_on_good_assets(full_models_dir, capsys):
    assert run_cli("verify") == 0
    out = capsys.readouterr().out
    assert out.count("[ok]") == 5 and "BROKEN" not in out
    assert "backbone + head keys present" in out and "778 vertices" in out
    assert out.count("[missing] detector") == len(LOOSE_MODEL_USES)  # not imported: built on first use
    assert all(f"{name} (optional)" in out for name in LOOSE_MODEL_USES)


def test_the_loose_models_are_listed_and_checked(models_dir, capsys):
    from fast_hamer_core.detection.assets import LOOSE_MODELS

    assert set(LOOSE_MODEL_USES) == set(LOOSE_MODELS)  # every file the detectors resolve has its row
    folder = models_dir / "detector"
    folder.mkdir(parents=True)
    for name in LOOSE_MODELS:
        (folder / name).write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))  # a TFLite header
    (folder / "hand_recrop.tflite").write_bytes(b"<html>not found</html>")  # a bad download
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    assert "the second (lite) palm detector" in _row(out, "palm_detection_lite ")
    assert run_cli("verify") == 1
    out = capsys.readouterr().out
    assert out.count("[ok] detector") == len(LOOSE_MODELS) - 1
    recrop = next(b for b in out.split("\n[") if "hand_recrop.tflite" in b)
    assert recrop.startswith("broken]") and "not a TFLite model" in recrop


def test_verify_reports_what_is_broken(full_models_dir, hamer_state_keys, tiny_student, capsys):
    import torch

    root = full_models_dir
    # Teacher: backbone keys missing (a Lightning-style file in the real format, truncated state dict).
    torch.save(
        {"state_dict": {k: torch.zeros(1) for k in hamer_state_keys[10:]}}, root / "hamer" / "hamer.ckpt"
    )
    # MANO: a truncated file.
    mano = root / "mano" / "MANO_RIGHT.npz"
    mano.write_bytes(mano.read_bytes()[:1000])
    # Detector: a member that is not a TFLite model.
    with zipfile.ZipFile(root / "detector" / "hand_landmarker.task", "w") as zf:
        zf.writestr("hand_detector.tflite", b"not a model")
        zf.writestr("hand_landmarks_detector.tflite", b"\x1c\x00\x00\x00TFL3")
    # Student: moved under another model's folder (name resolution would pick the wrong file).
    (root / "students" / "resnet50").mkdir()
    (root / "students" / tiny_student / "best.pt").rename(root / "students" / "resnet50" / "best.pt")

    assert run_cli("verify") == 1
    out = capsys.readouterr().out
    blocks = out.split("\n[")
    teacher = next(b for b in blocks if "hamer.ckpt" in b)
    assert teacher.startswith("broken]") and "missing backbone/head keys 10:" in teacher
    assert "sha256 differs" in teacher
    mano_block = next(b for b in blocks if "MANO_RIGHT.npz" in b)
    assert mano_block.startswith("broken]") and "not an .npz archive" in mano_block  # truncated: no zip
    task_block = next(b for b in blocks if "hand_landmarker.task" in b)
    assert "hand_detector.tflite is not a TFLite model" in task_block
    student_block = next(b for b in blocks if "resnet50/best.pt" in b)
    assert f"model_name '{tiny_student}' but filed under students/resnet50/" in student_block
    assert "[ok]" not in out.replace("[ok] teacher  hamer_vith config", "")  # only the yaml is still fine


def test_verify_catches_a_same_size_change_by_checksum(full_models_dir, capsys):
    config = full_models_dir / "hamer" / "model_config.yaml"
    text = config.read_text()
    config.write_text(text.replace("0.485", "0.486"))  # same size, still a valid HaMeR config
    assert run_cli("verify") == 1
    out = capsys.readouterr().out
    block = next(b for b in out.split("\n[") if "model_config.yaml" in b)
    assert block.startswith("broken]") and "sha256 differs" in block
    assert block.count("BROKEN:") == 1  # only the checksum can tell


def test_models_dir_option_in_either_position(full_models_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAST_HAMER_MODELS", str(tmp_path / "empty"))
    assert run_cli("--models-dir", str(full_models_dir), "list") == 0
    assert f"models directory: {full_models_dir}" in capsys.readouterr().out
    assert run_cli("list", "--models-dir", str(full_models_dir)) == 0
    assert f"models directory: {full_models_dir}" in capsys.readouterr().out


def test_fetch_mano_explains_the_licence(models_dir, tmp_path, capsys):
    assert run_cli("fetch", "mano") == 1
    out = capsys.readouterr().out
    assert "licence" in out and "https://mano.is.tue.mpg.de" in out and "fast-hamer models import" in out
    import_asset(write_synthetic_mano_npz(tmp_path / "m.npz"))
    assert run_cli("fetch", "mano") == 0
    assert "already imported" in capsys.readouterr().out


def test_cli_import_and_refusal(task_file, tmp_path, models_dir, capsys):
    assert run_cli("import", str(task_file)) == 0
    assert "hand_landmarker.task" in capsys.readouterr().out
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not recognised"):
        run_cli("import", str(junk))


def test_manifest_survives_reload_and_reports_unknown(tmp_path):
    m = Manifest(tmp_path)
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert m.checksum_status(f) == "unknown"
    m.record(f, kind="detector", name="detector")
    m.record_download("http://example.invalid/x", "ab" * 32, 3)
    m.save()
    again = Manifest(tmp_path)
    assert again.checksum_status(f) == "ok" and again.download("http://example.invalid/x")["size"] == 3
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest\.json is not valid JSON"):
        Manifest(tmp_path)
