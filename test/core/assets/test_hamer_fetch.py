"""HaMeR teacher: extraction of only the two files from the demo-data archive, and fetch end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fast_hamer_core.assets.download import DownloadError
from fast_hamer_core.assets.hamer import extract_hamer_archive, fetch_hamer
from fast_hamer_core.assets.store import Manifest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_extract_writes_only_checkpoint_and_config(hamer_files, tmp_path):
    dest = tmp_path / "out"
    result = extract_hamer_archive(hamer_files["archive"], dest)
    assert sorted(p.name for p in dest.iterdir()) == ["hamer.ckpt", "model_config.yaml"]
    assert result.ckpt.read_bytes() == hamer_files["ckpt"].read_bytes()
    assert result.config.read_bytes() == hamer_files["config"].read_bytes()
    assert result.ckpt_sha256 == _sha(result.ckpt.read_bytes())
    assert result.archive_sha256 == _sha(hamer_files["archive"].read_bytes())
    assert result.archive_size == hamer_files["archive"].stat().st_size


def test_corrupt_archive_leaves_nothing(hamer_files, tmp_path):
    data = hamer_files["archive"].read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    flipped = tmp_path / "flipped.tar.gz"  # gzip trailer CRC changed: only the CRC check can tell
    flipped.write_bytes(data[:-6] + bytes([data[-6] ^ 0xFF]) + data[-5:])  # in the CRC32
    for bad in (truncated, flipped):
        dest = tmp_path / f"out_{bad.stem}"
        with pytest.raises(ValueError, match=r"corrupt or truncated|has no"):
            extract_hamer_archive(bad, dest)
        assert list(dest.iterdir()) == []


def test_archive_without_checkpoint_is_refused(tmp_path):
    import io
    import tarfile

    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("_DATA/hamer_ckpts/model_config.yaml")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"a: 1"[:3]))
    with pytest.raises(ValueError, match=r"hamer_ckpts/checkpoints/hamer\.ckpt"):
        extract_hamer_archive(archive, tmp_path / "out")


def test_fetch_hamer_downloads_resumes_extracts_and_pins_the_checksum(file_server, hamer_files, models_dir):
    archive = hamer_files["archive"].read_bytes()
    file_server.files["/hamer_demo_data.tar.gz"] = archive
    file_server.drops["/hamer_demo_data.tar.gz"] = [len(archive) // 2]  # dropped once: resumed
    url = file_server.url("/hamer_demo_data.tar.gz")
    result = fetch_hamer(models_dir, url=url, progress=False, retries=1)
    assert result.ckpt == models_dir / "hamer" / "hamer.ckpt"
    assert result.ckpt.read_bytes() == hamer_files["ckpt"].read_bytes()
    assert file_server.requests[-1][1] == f"bytes={len(archive) // 2}-"
    assert not (models_dir / "downloads" / "hamer_demo_data.tar.gz").exists()  # archive removed
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert manifest["downloads"][url]["sha256"] == _sha(archive)  # trust on first use
    assert Manifest(models_dir).checksum_status(result.ckpt) == "ok"

    # Present and unchanged: a second fetch downloads nothing.
    n = len(file_server.requests)
    assert fetch_hamer(models_dir, url=url, progress=False).ckpt_sha256 == result.ckpt_sha256
    assert len(file_server.requests) == n

    # The server now serves another file under the same URL: refused against the recorded sha256.
    file_server.files["/hamer_demo_data.tar.gz"] = archive[:-1] + bytes([archive[-1] ^ 1])
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch_hamer(models_dir, url=url, progress=False, retries=0, force=True)
    assert result.ckpt.read_bytes() == hamer_files["ckpt"].read_bytes()  # the good copy is untouched


def test_fetch_hamer_offline_points_to_import(tmp_path, models_dir):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as err:
        fetch_hamer(
            models_dir, url=f"http://127.0.0.1:{port}/hamer_demo_data.tar.gz", progress=False, retries=0
        )
    assert "fast-hamer models import" in str(err.value)
    assert not Path(models_dir / "hamer" / "hamer.ckpt").exists()


def test_cli_fetch_hamer_and_detector(file_server, hamer_files, task_file, models_dir, capsys, monkeypatch):
    import shutil

    from fixtures.cli import run_cli as run_subcommand

    from fast_hamer_core.cli import models as models_cli

    def run_cli(*argv: str) -> int:
        return run_subcommand(models_cli, ["models", *argv], prog="fast-hamer")

    file_server.files["/h.tar.gz"] = hamer_files["archive"].read_bytes()
    assert (
        run_cli("fetch", "hamer", "--url", file_server.url("/h.tar.gz"), "--no-progress", "--keep-archive")
        == 0
    )
    out = capsys.readouterr().out
    assert (
        str(models_dir / "hamer" / "hamer.ckpt") in out and _sha(hamer_files["archive"].read_bytes()) in out
    )
    assert (models_dir / "downloads" / "hamer_demo_data.tar.gz").is_file()  # kept on request

    # detector: an existing bundle in the models dir is checked and recorded (building needs pip + network)
    from fast_hamer_core.detection import assets

    (models_dir / "detector").mkdir()
    shutil.copy(task_file, models_dir / "detector" / "hand_landmarker.task")
    for name in assets.LOOSE_MODELS:
        (models_dir / "detector" / name).write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))  # a TFLite header
    monkeypatch.delenv("FAST_HAMER_DETECTOR_MODEL", raising=False)
    assert run_cli("fetch", "detector") == 0
    assert Manifest(models_dir).checksum_status(models_dir / "detector" / "hand_landmarker.task") == "ok"
    out = capsys.readouterr().out
    assert all(str(models_dir / "detector" / name) in out for name in assets.LOOSE_MODELS)
    # A loose model missing (a models folder from before the lite palm detector): fetched, not skipped.
    (models_dir / "detector" / "palm_detection_lite.tflite").unlink()

    def no_index(dest_dir, python=None):
        raise RuntimeError("no package index here")

    monkeypatch.setattr(assets, "download_wheel", no_index)
    with pytest.raises(FileNotFoundError, match=r"(?s)palm_detection_lite\.tflite.*no package index here"):
        run_cli("fetch", "detector")
