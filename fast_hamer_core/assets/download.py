"""Resumable, verified HTTP downloads with nothing beyond the standard library (and tqdm for the bar).

A download streams into ``<dest>.part`` next to a small sidecar ``<dest>.part.json`` that records the
URL, the total size and the server's validators (ETag / Last-Modified). After an interruption, in the
same call (``retries``) or a later process, the transfer resumes with an HTTP ``Range`` request guarded
by ``If-Range``, so a file that changed on the server restarts from zero instead of being spliced.
``dest`` itself only ever appears through an atomic rename once the size (and sha256 when known) has
been checked: a partial or corrupt file can never be mistaken for a complete one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20  # 1 MiB per read/write
#: Free space kept on top of what a download needs (filesystems misbehave when completely full).
DISK_MARGIN_BYTES = 64 << 20
USER_AGENT = "fast-hamer-downloader/1"
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".part.json"

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A download failed: unreachable, refused, wrong size/checksum, or no disk space.

    The message names the URL and, where the network is the problem, the manual alternative.
    """


def manual_alternative(url: str) -> str:
    """What to do when this machine cannot download ``url`` itself."""
    return (
        f"Manual alternative: download {url} on a machine that can reach it (browser, wget, curl), copy the "
        "file here, then run `fast-hamer models import PATH/TO/FILE`."
    )


def sha256_file(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex sha256 of a file, read in chunks (constant memory for multi-GB checkpoints)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def format_bytes(n: int | None) -> str:
    """Human-readable size (binary units): 1536 -> '1.5 KiB'."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # unreachable


def check_free_space(directory: str | os.PathLike, needed_bytes: int, what: str = "the download") -> None:
    """Raise :class:`DownloadError` unless ``directory`` has ``needed_bytes`` (+ a margin) free."""
    directory = Path(directory)
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed_bytes + DISK_MARGIN_BYTES > free:
        raise DownloadError(
            f"not enough free disk space for {what}: need {format_bytes(needed_bytes)} "
            f"(+{format_bytes(DISK_MARGIN_BYTES)} margin) in {directory}, only {format_bytes(free)} free. "
            "Free some space or point the models directory elsewhere (--models-dir / $FAST_HAMER_MODELS)."
        )


@dataclass
class _Sidecar:
    """What we know about the bytes in ``<dest>.part`` (JSON next to it)."""

    url: str
    total: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None

    @classmethod
    def read(cls, path: Path) -> _Sidecar | None:
        try:
            data = json.loads(path.read_text())
            return cls(**{k: data.get(k) for k in ("url", "total", "etag", "last_modified", "sha256")})
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1))
        os.replace(tmp, path)

    @property
    def validator(self) -> str | None:
        """The ``If-Range`` value: a strong ETag, else Last-Modified (weak ETags are not allowed there)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified


class _RetriableError(Exception):
    """Internal: an attempt failed in a way worth retrying (network hiccup, short body, 5xx)."""


def _complete_ok(path: Path, sha256: str | None, expected_size: int | None) -> bool:
    """Whether an existing ``dest`` passes every check we can make."""
    if expected_size is not None and path.stat().st_size != expected_size:
        return False
    return sha256 is None or sha256_file(path) == sha256.lower()


def _discard(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _total_from_response(resp: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """(start offset the body begins at, total size or None) from a 200/206 response."""
    length = resp.headers.get("Content-Length")
    length_i = int(length) if length and length.isdigit() else None
    if resp.status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if not m:
            raise _RetriableError(
                f"206 response without a usable Content-Range ({resp.headers.get('Content-Range')})"
            )
        start = int(m.group(1))
        total = int(m.group(3)) if m.group(3) != "*" else None
        return start, total
    return 0, length_i


def _open(url: str, offset: int, side: _Sidecar | None, timeout_s: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if side is not None and side.validator:
            headers["If-Range"] = side.validator
    req = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(req, timeout=timeout_s)


def _hash_prefix(part: Path, offset: int) -> Any:
    """sha256 object fed with the first ``offset`` bytes already in ``part`` (resume keeps one pass)."""
    h = hashlib.sha256()
    if offset:
        with open(part, "rb") as f:
            remaining = offset
            while remaining:
                block = f.read(min(CHUNK_BYTES, remaining))
                if not block:
                    break
                h.update(block)
                remaining -= len(block)
    return h


def _stream(resp: BinaryIO, out: BinaryIO, hasher: Any, bar: Any) -> int:
    """Copy the body to ``out``; return the bytes written. Network errors propagate."""
    written = 0
    while block := resp.read(CHUNK_BYTES):
        out.write(block)
        hasher.update(block)
        written += len(block)
        if bar is not None:
            bar.update(len(block))
    return written


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety, never a reason to fail
        return None
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc)


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    expected_size: int | None = None,
    progress: bool = True,
    timeout_s: float = 30,
    retries: int = 3,
    *,
    backoff_s: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified, atomic) and return ``dest``.

    Args:
        url: http(s) URL.
        dest: final file path. Work happens in ``<dest>.part`` (+ ``<dest>.part.json``); a ``.part`` left
            by an interrupted run of the same URL is resumed with an HTTP Range request.
        sha256: expected hex digest; a mismatch deletes the partial file and raises.
        expected_size: expected size in bytes; a server announcing another size, or a body that ends
            elsewhere, is an error.
        progress: show a tqdm bar on stderr.
        timeout_s: socket timeout per connect/read, seconds.
        retries: how often a failed attempt is retried (resuming where it stopped); an attempt that
            received bytes does not use one up, so a long download over a flaky link keeps going.
            0: never retry.
        backoff_s: first wait between attempts, doubled each time.

    If ``dest`` already exists and passes the size/sha256 checks that are known, nothing is downloaded.
    Raises :class:`DownloadError` naming the URL (and the manual alternative when the network fails).
    """
    dest = Path(dest).expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    sidecar_path = dest.with_name(dest.name + SIDECAR_SUFFIX)
    sha256 = sha256.lower() if sha256 else None

    if dest.is_file():
        if _complete_ok(dest, sha256, expected_size):
            log.info("%s already present and verified", dest)
            return dest
        log.warning("%s exists but fails its size/checksum check; downloading again", dest)

    side = _Sidecar.read(sidecar_path) if part.exists() else None
    if part.exists() and (
        side is None or side.url != url or (sha256 and side.sha256 and side.sha256 != sha256)
    ):
        log.info("discarding %s: it does not belong to this download", part)
        _discard(part, sidecar_path)
        side = None

    failures = 0
    last_error: BaseException | None = None
    digest: str | None = None
    while True:
        offset = part.stat().st_size if part.exists() else 0
        got = 0
        try:
            digest = _attempt(
                url, part, sidecar_path, side, offset, sha256, expected_size, progress, timeout_s
            )
            break
        except _CompleteError:
            break
        except DownloadError:
            raise
        except _RetriableError as err:
            last_error = err
        except urllib.error.HTTPError as err:
            if err.code == 416 and offset > 0:  # our .part is not a prefix of what the server has now
                log.info("server refused resuming at byte %d; restarting %s", offset, url)
                _discard(part, sidecar_path)
                side = None
                last_error = err
            elif err.code in (408, 429) or err.code >= 500:
                last_error = err
            else:
                raise DownloadError(
                    f"cannot download {url}: HTTP {err.code} {err.reason}. {manual_alternative(url)}"
                ) from err
        except (urllib.error.URLError, OSError, http.client.HTTPException, TimeoutError) as err:
            if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS):
                raise DownloadError(f"cannot write {part}: {err}") from err  # local, retrying cannot help
            last_error = err
        finally:
            if part.exists():
                got = max(got, part.stat().st_size - offset)
        side = _Sidecar.read(sidecar_path) if part.exists() else None
        failures = 1 if got > 0 else failures + 1  # progress starts a new streak of failures
        if failures > retries:
            reason = getattr(last_error, "reason", last_error)
            kept = (
                f" The {format_bytes(part.stat().st_size)} received so far are kept in {part}; running the "
                "same command again resumes."
                if part.exists() and part.stat().st_size
                else ""
            )
            attempts = f"{failures} failed attempt{'s' if failures > 1 else ''}"
            raise DownloadError(
                f"cannot download {url}: {reason} (after {attempts}). "
                f"If this machine is offline or cannot reach the server: {manual_alternative(url)}{kept}"
            ) from last_error
        wait = backoff_s * (2 ** max(failures - 1, 0))
        log.warning("download of %s interrupted (%s); retrying in %.1f s", url, last_error, wait)
        time.sleep(wait)

    _finish(url, part, sidecar_path, dest, sha256, expected_size, digest)
    return dest


class _CompleteError(Exception):
    """Internal: the .part already holds the whole file (416 with a matching total)."""


def _attempt(
    url: str,
    part: Path,
    sidecar_path: Path,
    side: _Sidecar | None,
    offset: int,
    sha256: str | None,
    expected_size: int | None,
    progress: bool,
    timeout_s: float,
) -> str:
    """One HTTP request: append to ``part`` from ``offset``. Returns the sha256 of the whole ``part``
    (prefix re-read + streamed bytes, so a fresh download is hashed in the same pass); raises on failure."""
    if offset and side is not None and side.total is not None and offset >= side.total:
        if offset == side.total:
            raise _CompleteError()  # fully received earlier, only the verification/rename was missing
        _discard(part, sidecar_path)
        raise _RetriableError(f"{part} is larger than the file ({offset} > {side.total} bytes)")
    try:
        resp = _open(url, offset, side, timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and side is not None:
            m = re.match(r"bytes\s+\*/(\d+)", err.headers.get("Content-Range", "") if err.headers else "")
            if m and int(m.group(1)) == offset:
                raise _CompleteError() from err
        raise
    with contextlib.closing(resp):
        start, total = _total_from_response(resp, offset)
        if start != offset:  # 200 (range ignored or file changed) or an unexpected 206 start: restart
            if offset:
                log.info("server sent the file from byte %d, not %d: restarting %s", start, offset, part.name)
            offset = 0
        if expected_size is not None and total is not None and total != expected_size:
            _discard(part, sidecar_path)
            raise DownloadError(
                f"{url}: the server announces {total} bytes but {expected_size} are expected; "
                "refusing it (wrong or changed file)."
            )
        total = total if total is not None else expected_size
        if total is not None:
            check_free_space(part.parent, total - offset, f"{url}")
        new_side = _Sidecar(
            url=url,
            total=total,
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
            sha256=sha256,
        )
        if offset and side is not None:  # keep the validators the prefix was downloaded under
            new_side.etag = new_side.etag or side.etag
            new_side.last_modified = new_side.last_modified or side.last_modified
        new_side.write(sidecar_path)
        hasher = _hash_prefix(part, offset)
        bar = _progress_bar(total, offset, part.name[: -len(PART_SUFFIX)], progress)
        try:
            with open(part, "r+b" if offset else "wb") as out:
                out.seek(offset)
                out.truncate()
                received = _stream(resp, out, hasher, bar)
        finally:
            if bar is not None:
                bar.close()
    size = offset + received
    if total is not None and size < total:
        raise _RetriableError(f"connection closed after {size} of {total} bytes")
    if total is not None and size > total:
        _discard(part, sidecar_path)
        raise _RetriableError(f"server sent {size} bytes, more than the announced {total}")
    return hasher.hexdigest()


def _finish(
    url: str,
    part: Path,
    sidecar_path: Path,
    dest: Path,
    sha256: str | None,
    expected_size: int | None,
    digest: str | None,
) -> None:
    """Verify ``part`` (size, sha256; ``digest`` when the last attempt already hashed it) and atomically
    rename it to ``dest``; on failure delete it."""
    size = part.stat().st_size
    side = _Sidecar.read(sidecar_path)
    total = expected_size if expected_size is not None else (side.total if side else None)
    if total is not None and size != total:
        _discard(part, sidecar_path)
        raise DownloadError(
            f"{url}: downloaded {size} bytes but expected {total}; the partial file was deleted."
        )
    if sha256 is not None:
        digest = digest or sha256_file(part)
        if digest != sha256:
            _discard(part, sidecar_path)
            raise DownloadError(
                f"{url}: sha256 mismatch (expected {sha256}, got {digest}); the downloaded file was deleted. "
                "The server may serve a different file now, or the transfer was corrupted: try again. "
                f"{manual_alternative(url)}"
            )
    os.replace(part, dest)
    _discard(sidecar_path)
    log.info("downloaded %s (%s) to %s", url, format_bytes(size), dest)
