"""``fast-hamer train``: distil a student from the HaMeR teacher (PyTorch Lightning)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("fast_hamer.train")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a student with knowledge distillation",
        description="Train a student network from a YAML config "
        "(training/configs/<student>_<strategy>.yaml): HaMeR's ground-truth losses plus output-, feature- "
        "or hybrid knowledge distillation from the frozen HaMeR teacher. One GPU, several (DDP: --set "
        "run.devices=4) or several machines (torchrun / SLURM, --set run.num_nodes=N): Lightning picks the "
        "environment up. Logs to TensorBoard (losses, learning rate, validation on data.val), writes "
        "step=N.ckpt every run.checkpoint_every_n_steps steps and at the last step into "
        "<run.output_dir>/<name>/checkpoints "
        "(last.ckpt = the final step).",
        epilog="example: fast-hamer train --config training/configs/mobilenetv3_large_hybrid.yaml "
        "--set data.root=/data/hamer_training_data --set optim.batch_size=16",
    )
    p.add_argument("--config", required=True, help="training config YAML (see training/README.md)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set distill.lambda_kd=0.5 (repeatable; value is YAML)",
    )
    p.add_argument("--resume", metavar="CKPT", help="resume from a Lightning checkpoint (e.g. .../last.ckpt)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--force", action="store_true", help="train into a run folder that already holds checkpoints"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from fast_hamer_core.distill.config import load_config

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    from fast_hamer_core.distill.trainer import train

    existing = sorted((config.run_dir / "checkpoints").glob("*.ckpt"))
    if existing and not args.resume and not args.force:
        raise ValueError(
            f"{config.run_dir} already holds checkpoints ({', '.join(p.name for p in existing[:3])}); resume "
            "with --resume, choose another --set name=..., or pass --force to overwrite them"
        )
    module = train(config, resume=args.resume)
    print(
        f"done: {config.name} trained to step {module.final_step}; "
        f"last.ckpt = {module.final_checkpoint.name} "
        f"in {module.final_checkpoint.parent}"
    )
    return 0
