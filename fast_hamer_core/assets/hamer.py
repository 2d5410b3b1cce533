"""Fetching the HaMeR teacher: the authors' demo-data archive, of which we keep two files.

HaMeR's ``fetch_demo_data.sh`` (and ``hamer.models.download_models``) download
``hamer_demo_data.tar.gz`` from the URL below and untar it into ``_DATA/``. Of its contents we need
``_DATA/hamer_ckpts/checkpoints/hamer.ckpt`` and ``_DATA/hamer_ckpts/model_config.yaml``; they are
streamed out of the archive (one sequential pass through the gzip, nothing else written) into
``<models dir>/hamer/``. The pass also hashes the archive (its sha256 is recorded in the manifest on
first download, as the authors publish none, and enforced on later downloads) and lets gzip check its
CRC, so a corrupt archive is detected before the files are renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fast_hamer_core import paths
from fast_hamer_core.assets import store
from fast_hamer_core.assets.download import check_free_space, download, format_bytes

log = logging.getLogger(__name__)

#: The official archive (HaMeR README / fetch_demo_data.sh / hamer.models.download_models).
HAMER_DEMO_URL = "https://www.cs.utexas.edu/~pavlakos/hamer/data/hamer_demo_data.tar.gz"
ARCHIVE_NAME = "hamer_demo_data.tar.gz"
#: Member path suffixes inside the archive (``_DATA/`` prefix, possibly ``./``).
CKPT_MEMBER = "hamer_ckpts/checkpoints/hamer.ckpt"
CONFIG_MEMBER = "hamer_ckpts/model_config.yaml"
#: Where partial and complete downloads live (resume works across runs).
DOWNLOADS_DIRNAME = "downloads"


class _HashingReader:
    """File wrapper that hashes every byte read through it (tarfile's stream mode reads sequentially)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.sha256.update(data)
        self.bytes_read += len(data)
        return data


@dataclass(frozen=True)
class HamerExtraction:
    """The files written by :func:`extract_hamer_archive` and the sha256 of each (and of the archive)."""

    ckpt: Path
    config: Path
    ckpt_sha256: str
    config_sha256: str
    archive_sha256: str
    archive_size: int


def _member_kind(name: str) -> str | None:
    """``ckpt`` / ``config`` for the two members we keep; None for the rest (and AppleDouble ``._*``)."""
    if name.rsplit("/", 1)[-1].startswith("._"):
        return None
    name = name.removeprefix("./")
    if name == CKPT_MEMBER or name.endswith("/" + CKPT_MEMBER):
        return "ckpt"
    if name == CONFIG_MEMBER or name.endswith("/" + CONFIG_MEMBER):
        return "config"
    return None


def extract_hamer_archive(
    archive: str | os.PathLike, dest_dir: str | os.PathLike | None = None
) -> HamerExtraction:
    """Stream ``hamer_demo_data.tar.gz`` and write only ``hamer.ckpt`` and ``model_config.yaml`` to
    ``dest_dir`` (default ``paths.hamer_dir()``).

    Each member goes to a temporary name; both are renamed into place only after the whole archive has
    been read without error (gzip CRC included). ValueError if a member is missing or the archive is
    corrupt; nothing is left behind then.
    """
    archive = Path(archive).expanduser()
    dest = Path(dest_dir).expanduser() if dest_dir is not None else paths.hamer_dir()
    dest.mkdir(parents=True, exist_ok=True)
    targets = {"ckpt": dest / store.HAMER_CKPT_NAME, "config": dest / store.HAMER_CONFIG_NAME}
    temps = {k: v.with_name(v.name + ".extracting") for k, v in targets.items()}
    digests: dict[str, str] = {}
    try:
        with open(archive, "rb") as raw:
            reader = _HashingReader(raw)
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            # gzip through GzipFile (not tarfile's own decoder) so that the CRC and length are checked.
            stream: IO[bytes] = gzip.GzipFile(fileobj=reader, mode="rb") if gzipped else reader  # type: ignore[assignment]
            with tarfile.open(fileobj=stream, mode="r|" if gzipped else "r|*") as tf:  # type: ignore[call-overload]
                for member in tf:
                    kind = _member_kind(member.name)
                    if kind is None or not member.isfile() or kind in digests:
                        continue
                    check_free_space(dest, member.size, f"extracting {member.name}")
                    src = tf.extractfile(member)
                    assert src is not None  # regular file
                    h = hashlib.sha256()
                    with open(temps[kind], "wb") as out:
                        while block := src.read(1 << 20):
                            h.update(block)
                            out.write(block)
                    digests[kind] = h.hexdigest()
                    log.info("extracted %s (%s)", member.name, format_bytes(member.size))
            while stream.read(1 << 20):  # the rest: tar padding, then gzip's CRC check at its end
                pass
            while reader.read(1 << 20):  # anything after the compressed stream (hash the whole file)
                pass
        missing = [m for k, m in (("ckpt", CKPT_MEMBER), ("config", CONFIG_MEMBER)) if k not in digests]
        if missing:
            raise ValueError(
                f"{archive}: the archive has no .../{' or .../'.join(missing)}: not HaMeR's demo data"
            )
        for kind, target in targets.items():
            os.replace(temps[kind], target)
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as err:
        for t in temps.values():
            t.unlink(missing_ok=True)
        if isinstance(err, ValueError):
            raise
        raise ValueError(
            f"{archive}: corrupt or truncated archive ({type(err).__name__}: {err}); download it again"
        ) from err
    return HamerExtraction(
        targets["ckpt"],
        targets["config"],
        digests["ckpt"],
        digests["config"],
        reader.sha256.hexdigest(),
        reader.bytes_read,
    )


def _already_fetched(manifest: store.Manifest, root: Path) -> HamerExtraction | None:
    """The recorded teacher files if both are present and unchanged, else None."""
    ckpt, config = store.teacher_paths(root)
    entries = []
    for f in (ckpt, config):
        if not f.is_file() or manifest.checksum_status(f, rehash=False) != store.CHECKSUM_OK:
            return None
        entries.append(manifest.entry(f) or {})
    source = entries[0].get("source", "")
    archive = manifest.download(source) or {}
    return HamerExtraction(
        ckpt,
        config,
        entries[0]["sha256"],
        entries[1]["sha256"],
        archive.get("sha256", ""),
        int(archive.get("size", 0)),
    )


def fetch_hamer(
    models_dir: str | os.PathLike | None = None,
    url: str = HAMER_DEMO_URL,
    sha256: str | None = None,
    keep_archive: bool = False,
    progress: bool = True,
    timeout_s: float = 30,
    retries: int = 3,
    force: bool = False,
) -> HamerExtraction:
    """Download HaMeR's demo-data archive (resumable) and extract the teacher into ``hamer/``.

    Nothing is downloaded when both files are already there and unchanged since they were recorded
    (size and mtime; ``models verify`` re-hashes), unless ``force``.

    The archive is checked against ``sha256`` if given, else against the sha256 the manifest recorded
    for ``url`` on a previous download (none on the first: it is recorded then). The archive is deleted
    after extraction unless ``keep_archive``. Raises DownloadError (offline: with the manual
    alternative) or ValueError (corrupt archive).
    """
    root = paths.models_dir(models_dir)
    manifest = store.Manifest(root)
    present = _already_fetched(manifest, root)
    if present is not None and not force:
        log.info("HaMeR teacher already present: %s (--force fetches it again)", present.ckpt)
        return present
    known = manifest.download(url) or {}
    expected = (sha256 or known.get("sha256") or "").lower() or None
    expected_size = known.get("size") if expected and expected == known.get("sha256") else None
    archive = root / DOWNLOADS_DIRNAME / ARCHIVE_NAME
    download(
        url,
        archive,
        sha256=expected,
        expected_size=expected_size,
        progress=progress,
        timeout_s=timeout_s,
        retries=retries,
    )
    try:
        result = extract_hamer_archive(archive, paths.hamer_dir(root))
    except ValueError:
        archive.unlink(missing_ok=True)  # a corrupt archive must not be reused as complete
        raise
    if expected and result.archive_sha256 != expected:  # verified by download(); a changed file since
        raise ValueError(
            f"{archive}: sha256 changed while extracting ({result.archive_sha256} != {expected})"
        )
    manifest.record_download(url, result.archive_sha256, result.archive_size)
    manifest.record(
        result.ckpt, kind="teacher", name=store.TEACHER_NAME, source=url, sha256=result.ckpt_sha256
    )
    manifest.record(
        result.config,
        kind="teacher",
        name=f"{store.TEACHER_NAME} config",
        source=url,
        sha256=result.config_sha256,
    )
    manifest.save()
    if not keep_archive:
        archive.unlink(missing_ok=True)
    log.info("HaMeR teacher ready: %s", result.ckpt)
    return result
