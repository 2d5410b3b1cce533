"""``fast-hamer mano``: bring your own MANO model (licence-gated) into the models directory.

fast-hamer mano import ~/Downloads/mano_v1_2.zip      # or .../models/MANO_RIGHT.pkl
fast-hamer mano info                                  # the installed model, or: info PATH
"""

from __future__ import annotations

import argparse


def _cmd_import(args: argparse.Namespace) -> int:
    from fast_hamer_core.mano import import_mano, load_mano_arrays
    from fast_hamer_core.synth.mano import SYNTHETIC_MANO_MESSAGE, is_synthetic_mano

    if is_synthetic_mano(args.path):
        raise ValueError(f"{args.path} {SYNTHETIC_MANO_MESSAGE}")
    dst_dir = None
    if args.models_dir:
        from fast_hamer_core import paths

        dst_dir = paths.mano_dir(args.models_dir)
    out = import_mano(args.path, dst_dir)
    arrays = load_mano_arrays(out)  # read back: proves the written file is complete
    print(f"MANO right hand ({arrays['v_template'].shape[0]} vertices) written to {out}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from fast_hamer_core.mano import REQUIRED_SHAPES, load_mano_arrays, resolve_mano_path

    path = resolve_mano_path(args.path)
    arrays = load_mano_arrays(path)  # raises ValueError naming any wrong shape or missing key
    v, f = arrays["v_template"], arrays["f"]
    extent = v.max(0) - v.min(0)
    print(f"file: {path}")
    n_joints = arrays["J_regressor"].shape[0]
    print(f"vertices: {v.shape[0]}  faces: {f.shape[0]}  joints: {n_joints} (+5 tips = 21)")
    print(f"betas: {arrays['shapedirs'].shape[2]}  pose blend shapes: {arrays['posedirs'].shape[2]}")
    print(f"template extent (m): {extent[0]:.3f} x {extent[1]:.3f} x {extent[2]:.3f}")
    print(f"parents: {arrays['kintree_table'][0].tolist()}")
    for key in REQUIRED_SHAPES:
        print(f"  {key:17s} {arrays[key].shape!s:15s} {arrays[key].dtype}  ok")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mano import`` and ``mano info``."""
    parser = subparsers.add_parser(
        "mano",
        help="import / inspect the MANO hand model (you download it yourself)",
        description=(
            "MANO is licence-gated: register at https://mano.is.tue.mpg.de, download mano_v1_2.zip, then "
            "`fast-hamer mano import` it once. chumpy is not needed."
        ),
    )
    sub = parser.add_subparsers(dest="mano_command", metavar="ACTION")
    sub.required = True

    imp = sub.add_parser(
        "import",
        help="convert MANO_RIGHT.pkl (or the official zip) to <models dir>/mano/MANO_RIGHT.npz",
        description="Read MANO_RIGHT.pkl, mano_v*.zip, or an .npz, check it, and write the plain-numpy "
        "MANO_RIGHT.npz that fast_hamer loads.",
    )
    imp.add_argument("path", help="MANO_RIGHT.pkl, the official mano_v1_2.zip, or a MANO .npz")
    imp.add_argument(
        "--models-dir",
        default=None,
        help="models directory (default: $FAST_HAMER_MODELS or ~/.cache/fast_hamer/models)",
    )
    imp.set_defaults(func=_cmd_import)

    info = sub.add_parser(
        "info",
        help="check a MANO file's arrays and print counts",
        description="Load a MANO file (default: the imported one) and print its counts and shapes.",
    )
    info.add_argument("path", nargs="?", default=None, help="a MANO file (default: the imported model)")
    info.set_defaults(func=_cmd_info)
