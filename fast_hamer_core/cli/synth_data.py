"""``fast-hamer synth-data``: a small synthetic world (MANO, shards, eval sets, teacher), real formats."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("fast_hamer.synth_data")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth-data",
        help="write a small synthetic world to try training / eval / infer without downloads",
        description="Write a synthetic MANO model (marked as synthetic, never used unless named), "
        "HaMeR-format training shards + freihand_mocap.npz, FreiHAND- and HO3D-v2-layout evaluation folders, "
        "a small random teacher in HaMeR's checkpoint layout and an image to run `infer` on. Everything is "
        "random: it exercises the tools (see README, 'The research loop in five minutes'), its scores mean "
        "nothing. training/configs/smoke.yaml trains on it.",
        epilog="example: fast-hamer synth-data --out smoke",
    )
    p.add_argument(
        "--out", required=True, help="folder to write (must be empty or an older synth-data folder)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing synth-data folder")
    p.add_argument("--train-images", type=int, default=48, help="training images (default 48)")
    p.add_argument("--val-images", type=int, default=8, help="held-out validation images (default 8)")
    p.add_argument("--eval-images", type=int, default=16, help="FreiHAND-layout images (default 16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core.synth.world import WorldSizes, write_synthetic_world

    for name in ("train_images", "val_images", "eval_images"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    sizes = WorldSizes(
        train_images=args.train_images,
        val_images=args.val_images,
        freihand_images=args.eval_images,
        ho3d_per_sequence=max(1, args.eval_images // 4),
    )
    try:
        paths = write_synthetic_world(args.out, sizes, force=args.force)
    except FileExistsError as err:
        raise ValueError(str(err)) from None
    width = max(len(k) for k in paths)
    for key, path in paths.items():
        print(f"{key:<{width}}  {path}")
    print(
        "next: fast-hamer train --config training/configs/smoke.yaml (it reads smoke/...; from another "
        f"folder: --set data.root={paths['training_data']} and the mano / teacher.checkpoint paths)"
    )
    return 0
