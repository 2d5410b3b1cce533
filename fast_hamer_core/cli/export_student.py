"""``fast-hamer export-student``: trainer checkpoint -> the node's student checkpoint (no teacher inside)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-student",
        help="export a trained student for the node",
        description="Write the student of a `fast-hamer train` checkpoint (Lightning .ckpt) in the node's "
        "checkpoint format: model config + backbone/head weights + metadata. Teacher, phi, discriminator, "
        "optimiser state and MANO data are left out.",
    )
    p.add_argument("checkpoint", help="training checkpoint (<run>/checkpoints/last.ckpt or step=N.ckpt)")
    p.add_argument("--out", help="output .pt (default: <models dir>/students/<model>/<run name>.pt)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra metadata stored in the checkpoint (repeatable)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core import paths
    from fast_hamer_core.distill.export import export_student, read_training_checkpoint

    meta = {}
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"bad --meta {item!r}: expected KEY=VALUE")
        meta[key] = value
    data = read_training_checkpoint(args.checkpoint)
    step = int(data.get("global_step", 0))
    out = Path(args.out) if args.out else None
    if out is None:
        model = data["fast_hamer_student"]["name"]
        run_name = (data.get("fast_hamer_train_config") or {}).get("name") or Path(args.checkpoint).stem
        out = paths.students_dir() / model / f"{run_name}.pt"
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; pass --force to replace it, or --out for another file")
    path = export_student(args.checkpoint, out, meta)
    print(f"exported student of {args.checkpoint} (step {step}) to {path}")
    return 0
