"""The downloader against a local HTTP server: resume, checksums, partial files, offline errors."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

from fast_hamer_core.assets.download import DownloadError, download

PAYLOAD = np.random.default_rng(1).bytes(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir() if p.name != dest.name)


def test_download_complete_verified_and_atomic(file_server, tmp_path, capsys):
    file_server.files["/a.bin"] = PAYLOAD
    dest = tmp_path / "dl" / "a.bin"
    out = download(file_server.url("/a.bin"), dest, sha256=SHA, expected_size=len(PAYLOAD), progress=True)
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert _leftovers(dest) == []  # no .part / sidecar left behind
    assert "a.bin" in capsys.readouterr().err  # the tqdm bar, labelled with the file name
    # Present and verified: a second call makes no request.
    n = len(file_server.requests)
    download(file_server.url("/a.bin"), dest, sha256=SHA, progress=False)
    assert len(file_server.requests) == n


def test_resume_after_dropped_connection(file_server, tmp_path):
    file_server.files["/a.bin"] = PAYLOAD
    file_server.drops["/a.bin"] = [100_000, 50_000]  # two drops, then the rest
    dest = tmp_path / "a.bin"
    download(file_server.url("/a.bin"), dest, sha256=SHA, progress=False, retries=1, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert [r for _, r in file_server.requests] == [None, "bytes=100000-", "bytes=150000-"]


def test_resume_across_process_restart(file_server, tmp_path):
    file_server.files["/a.bin"] = PAYLOAD
    file_server.drops["/a.bin"] = [120_000]
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError) as err:
        download(file_server.url("/a.bin"), dest, progress=False, retries=0, backoff_s=0)
    assert not dest.exists()  # the partial file is never presented as the result
    assert (tmp_path / "a.bin.part").stat().st_size == 120_000
    assert "running the same command again resumes" in str(err.value)
    # A new "process": only the sidecar on disk links the .part to the URL.
    download(file_server.url("/a.bin"), dest, sha256=SHA, progress=False, retries=0)
    assert dest.read_bytes() == PAYLOAD
    assert file_server.requests[-1][1] == "bytes=120000-"
    assert _leftovers(dest) == []


def test_changed_file_on_server_restarts_instead_of_splicing(file_server, tmp_path):
    file_server.files["/a.bin"] = PAYLOAD
    file_server.drops["/a.bin"] = [100_000]
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError):
        download(file_server.url("/a.bin"), dest, progress=False, retries=0)
    new = bytes(reversed(PAYLOAD))
    file_server.files["/a.bin"] = new  # new ETag: If-Range fails, the server sends the whole file
    download(file_server.url("/a.bin"), dest, progress=False, retries=0)
    assert dest.read_bytes() == new


def test_bad_checksum_is_rejected_and_nothing_kept(file_server, tmp_path):
    file_server.files["/a.bin"] = PAYLOAD
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="sha256 mismatch") as err:
        download(file_server.url("/a.bin"), dest, sha256="0" * 64, progress=False)
    assert "fast-hamer models import" in str(err.value)
    assert not dest.exists() and _leftovers(dest) == []


def test_partial_files_are_never_taken_as_complete(file_server, tmp_path):
    file_server.files["/a.bin"] = PAYLOAD
    dest = tmp_path / "a.bin"
    # A .part of unknown origin (no sidecar) is not resumed: fresh request without Range.
    (tmp_path / "a.bin.part").write_bytes(b"\xff" * 1000)
    download(file_server.url("/a.bin"), dest, progress=False)
    assert dest.read_bytes() == PAYLOAD and file_server.requests[-1][1] is None
    # A truncated file at the final name fails the size check and is downloaded again.
    dest.write_bytes(PAYLOAD[:5000])
    download(file_server.url("/a.bin"), dest, expected_size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_size_mismatch_is_refused(file_server, tmp_path):
    file_server.files["/a.bin"] = PAYLOAD
    with pytest.raises(DownloadError, match="300000 bytes but 123 are expected"):
        download(file_server.url("/a.bin"), tmp_path / "a.bin", expected_size=123, progress=False)
    assert not (tmp_path / "a.bin").exists()


def test_disk_space_checked_before_writing(file_server, tmp_path):
    file_server.files["/huge.bin"] = b"x"
    file_server.announce["/huge.bin"] = 1 << 60  # 1 EiB announced
    with pytest.raises(DownloadError, match="not enough free disk space"):
        download(file_server.url("/huge.bin"), tmp_path / "huge.bin", progress=False, retries=0)
    assert not (tmp_path / "huge.bin").exists()
    assert not (tmp_path / "huge.bin.part").exists() or (tmp_path / "huge.bin.part").stat().st_size == 0


def test_unreachable_server_names_the_manual_alternative(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hamer_demo_data.tar.gz"
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "x.tar.gz", progress=False, retries=1, backoff_s=0, timeout_s=2)
    message = str(err.value)
    assert url in message and "fast-hamer models import" in message and "2 failed attempts" in message
    assert not (tmp_path / "x.tar.gz").exists()


def test_http_not_found_is_not_retried(file_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(file_server.url("/missing"), tmp_path / "m", progress=False, retries=3, backoff_s=0)
    assert len(file_server.requests) == 1
