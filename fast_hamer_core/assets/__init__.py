"""Model assets: one models directory, with fetch / import / verify / list and name resolution.

- :mod:`.download`: resumable, verified HTTP downloads (:func:`download`, :class:`DownloadError`).
- :mod:`.store`: the manifest (recorded checksums), the known asset slots, :func:`resolve_checkpoint`.
- :mod:`.identify`: what a file is (cheap and safe) and :func:`import_asset`.
- :mod:`.hamer`: the HaMeR teacher from the authors' archive (:func:`fetch_hamer`).
- :mod:`.verify`: :func:`verify_assets`.

The CLI is ``fast-hamer models`` (:mod:`fast_hamer_core.cli.models`). Layout: :mod:`fast_hamer_core.paths`.
"""

from fast_hamer_core.assets.download import DownloadError, download, sha256_file
from fast_hamer_core.assets.hamer import HAMER_DEMO_URL, extract_hamer_archive, fetch_hamer
from fast_hamer_core.assets.identify import Identified, identify, import_asset
from fast_hamer_core.assets.store import (
    TEACHER_NAME,
    Asset,
    Manifest,
    UntrainedModelError,
    known_assets,
    resolve_checkpoint,
)
from fast_hamer_core.assets.verify import AssetReport, verify_assets

__all__ = [
    "HAMER_DEMO_URL",
    "TEACHER_NAME",
    "Asset",
    "AssetReport",
    "DownloadError",
    "Identified",
    "Manifest",
    "UntrainedModelError",
    "download",
    "extract_hamer_archive",
    "fetch_hamer",
    "identify",
    "import_asset",
    "known_assets",
    "resolve_checkpoint",
    "sha256_file",
    "verify_assets",
]
