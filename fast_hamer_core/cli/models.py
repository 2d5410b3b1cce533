"""``fast-hamer models``: list, fetch, import, verify and resolve the model assets.

fast-hamer models list                       # what is there, sizes, checksums, what it is for
fast-hamer models fetch hamer                # teacher checkpoint from the HaMeR authors (resumable)
fast-hamer models fetch detector             # MediaPipe hand landmarker (.task), built offline
fast-hamer models fetch mano                 # licence-gated: explains how to import it
fast-hamer models import PATH                # file anything recognised into the models directory
fast-hamer models import RUN_DIR|CKPT        # convert a Fast-HaMeR run / .ckpt to a student .pt
fast-hamer models verify                     # load each asset cheaply; exit 1 if something is broken
fast-hamer models resolve mobilenetv3_large  # print the checkpoint a name stands for
"""

from __future__ import annotations

import argparse
import sys

from fast_hamer_core import paths

_MODELS_DIR_HELP = "models directory (default: $FAST_HAMER_MODELS or ~/.cache/fast_hamer/models)"


def _size(n: int | None) -> str:
    from fast_hamer_core.assets.download import format_bytes

    return format_bytes(n) if n is not None else "-"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    from fast_hamer_core.assets import store

    root = paths.models_dir(args.models_dir)
    manifest = store.Manifest(root)
    rows = []
    for a in store.known_assets(root):
        origin = "-"
        if a.present:
            checksum = manifest.checksum_status(a.path, rehash=args.rehash)
            where = str(a.path)
            entry = manifest.entry(a.path) or {}
            origin = entry.get("provenance") or entry.get("source") or "-"
        else:
            checksum = "-"
            where = f"(missing{', optional' if a.optional else ''}) get: {a.how_to_get}"
        rows.append([a.name, a.kind, _size(a.size_bytes), checksum, a.needed_for, where, origin])
    print(f"models directory: {root}")
    print(_table(rows, ["NAME", "KIND", "SIZE", "CHECKSUM", "NEEDED FOR", "PATH", "FROM"]))
    if not args.rehash:
        print(
            "(checksum 'ok' = unchanged since recorded; --rehash re-reads every file; "
            "`verify` checks contents)"
        )
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from fast_hamer_core.assets.verify import STATUS_MISSING, verify_assets

    root = paths.models_dir(args.models_dir)
    reports = verify_assets(root)
    print(f"models directory: {root}")
    for r in reports:
        a = r.asset
        if r.status == STATUS_MISSING:
            print(
                f"[missing] {a.kind:8s} {a.name}: {a.path}{' (optional)' if a.optional else ''} "
                f"-> {a.how_to_get}"
            )
            continue
        print(f"[{r.status}] {a.kind:8s} {a.name}: {a.path} ({_size(a.size_bytes)}, checksum {r.checksum})")
        for p in r.problems:
            print(f"    BROKEN: {p}")
        for n in r.notes:
            print(f"    {n}")
    broken = [r for r in reports if r.broken]
    if broken:
        print(f"{len(broken)} asset(s) broken: re-import or fetch them again.", file=sys.stderr)
        return 1
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from fast_hamer_core.assets.identify import import_asset

    ident, written = import_asset(args.path, args.models_dir, force=args.force)
    print(f"{args.path}: {ident.description}")
    for w in written:
        print(f"  -> {w} ({_size(w.stat().st_size)})")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from fast_hamer_core.assets import store

    root = paths.models_dir(args.models_dir)
    if args.asset == "hamer":
        from fast_hamer_core.assets.hamer import fetch_hamer

        result = fetch_hamer(
            root,
            url=args.url,
            sha256=args.sha256,
            keep_archive=args.keep_archive,
            progress=not args.no_progress,
            force=args.force,
        )
        print(f"HaMeR teacher: {result.ckpt} ({_size(result.ckpt.stat().st_size)}), config {result.config}")
        if result.archive_sha256:
            print(f"archive sha256 {result.archive_sha256} (recorded in {store.Manifest(root).path})")
        return 0
    if args.asset == "detector":
        from fast_hamer_core.detection.assets import LOOSE_MODELS, ensure_detector_model, ensure_loose_model

        task = ensure_detector_model(models_dir=root)
        manifest = store.Manifest(root)
        if manifest.checksum_status(task, rehash=False) == store.CHECKSUM_UNKNOWN:
            manifest.record(task, kind="detector", name="detector", source="fast-hamer models fetch detector")
            manifest.save()
        print(f"detector model: {task} ({_size(task.stat().st_size)})")
        # The thorough and stream detectors' loose models (body models, lite palm detector): the first
        # missing one fetches the wheel once, which writes every missing model.
        for name in LOOSE_MODELS:
            path = ensure_loose_model(name, models_dir=root)
            print(f"  and {path.name}: {path} ({_size(path.stat().st_size)})")
        return 0
    # mano: licence-gated, never downloaded
    from fast_hamer_core.mano import MANO_URL

    target = paths.mano_dir(root) / store.MANO_FILE_NAME
    if target.is_file():
        print(f"MANO is already imported: {target}")
        return 0
    print(
        "MANO cannot be downloaded for you: it is licence-gated (free for non-commercial research, "
        f"commercial use needs a licence from the Max Planck Institute).\n"
        f"  1. register at {MANO_URL} and accept the licence;\n"
        "  2. download 'Models & Code' (mano_v1_2.zip);\n"
        "  3. run: fast-hamer models import PATH/TO/mano_v1_2.zip   (or .../models/MANO_RIGHT.pkl)\n"
        f"It is converted once to {target} (plain numpy, chumpy not needed)."
    )
    return 1


def _cmd_resolve(args: argparse.Namespace) -> int:
    from fast_hamer_core.assets.store import resolve_checkpoint

    print(resolve_checkpoint(args.name, args.models_dir))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models`` with list / fetch / import / verify / resolve."""
    parser = subparsers.add_parser(
        "models",
        help="list, fetch, import and verify model assets (teacher, students, MANO, detector)",
        description=(
            "Manage the models directory ($FAST_HAMER_MODELS, default ~/.cache/fast_hamer/models): "
            "mano/MANO_RIGHT.npz, detector/hand_landmarker.task, hamer/hamer.ckpt + model_config.yaml, "
            "students/<model_name>/*.pt, and manifest.json with the recorded checksums."
        ),
    )
    parser.add_argument("--models-dir", default=None, help=_MODELS_DIR_HELP)
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True

    def add(name: str, help_: str, description: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=description)
        # also accepted after the action; SUPPRESS keeps a value given before it
        p.add_argument("--models-dir", default=argparse.SUPPRESS, help=_MODELS_DIR_HELP)
        p.set_defaults(func=func)
        return p

    ls = add(
        "list",
        "every known asset: path, size, checksum status, what it is for",
        "List the teacher, MANO, the detector and every student checkpoint with size, checksum "
        "status against manifest.json (ok / mismatch / unknown = not recorded) and where it came from "
        "(FROM: the imported file or download, or a converted run's backbone type and step).",
        _cmd_list,
    )
    ls.add_argument(
        "--rehash",
        action="store_true",
        help="re-read every file for the checksum (default: trust unchanged size + mtime)",
    )

    fetch = add(
        "fetch",
        "download / build an asset: hamer, detector (mano: explains the licence)",
        "hamer: download HaMeR's demo-data archive (resumable, progress bar, disk space checked) and "
        "extract only hamer.ckpt + model_config.yaml. detector: build hand_landmarker.task and the loose "
        "models (body models, lite palm detector) from the mediapipe 0.10.21 wheel. mano: how to get the "
        "licence-gated MANO model.",
        _cmd_fetch,
    )
    fetch.add_argument("asset", choices=("hamer", "detector", "mano"))
    from fast_hamer_core.assets.hamer import HAMER_DEMO_URL

    fetch.add_argument(
        "--url", default=HAMER_DEMO_URL, help="archive URL for hamer (default: the official one)"
    )
    fetch.add_argument("--sha256", default=None, help="expected sha256 of the hamer archive")
    fetch.add_argument(
        "--keep-archive", action="store_true", help="keep the downloaded archive after extraction"
    )
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.add_argument("--force", action="store_true", help="hamer: download again even if it is present")

    imp = add(
        "import",
        "identify a file and put it where it belongs",
        "Recognises a HaMeR checkpoint folder, hamer.ckpt or hamer_demo_data.tar.gz, a Fast-HaMeR run "
        "folder (model_config.yaml + checkpoints/*.ckpt) or one of its .ckpt files (converted to a student "
        ".pt with its provenance: source, backbone type, step), a fast_hamer student .pt, MANO_RIGHT.pkl / "
        "a MANO .npz / mano_v1_2.zip, or a hand landmarker .task, and files it in the models directory "
        "(checksum recorded). Anything else is refused with the reason.",
        _cmd_import,
    )
    imp.add_argument("path", help="file or folder to import")
    imp.add_argument(
        "--force",
        action="store_true",
        help="replace a different student checkpoint of the same name (or a converted run imported before)",
    )

    add(
        "verify",
        "load every present asset cheaply; exit 1 if one is broken",
        "Checks MANO array shapes, checkpoint keys against the model registry, the .task members and the "
        "recorded checksums. Missing assets are listed with the command that provides them.",
        _cmd_verify,
    )

    res = add(
        "resolve",
        "print the checkpoint a model name (or path) resolves to",
        "A name resolves to the newest students/<name>/*.pt (hamer_vith: hamer/hamer.ckpt).",
        _cmd_resolve,
    )
    res.add_argument("name", help="model name (e.g. mobilenetv3_large, hamer_vith) or a path")
