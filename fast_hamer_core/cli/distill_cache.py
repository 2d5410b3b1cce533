"""``fast-hamer distill-cache``: run the teacher once over the training shards and store its outputs."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("fast_hamer.distill_cache")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill-cache",
        help="precompute the teacher's predictions for output-level distillation",
        description="Run the frozen teacher over every hand of the training shards named by a "
        "training config (un-augmented crops) and store its predictions per sample (and, with --features, "
        "its fp16 feature maps) under distill.cache_dir, or --out. Training with that cache_dir then reads "
        "the teacher targets instead of running the teacher (output KD); cached feature maps are used only "
        "without geometric augmentation.",
    )
    p.add_argument("--config", required=True, help="training config YAML (its data.train, teacher, mano)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable)",
    )
    p.add_argument("--out", help="cache directory (default: the config's distill.cache_dir)")
    p.add_argument(
        "--features", action="store_true", help="also store the teacher feature maps (fp16, large)"
    )
    p.add_argument("--batch-size", type=int, default=16, help="teacher batch size (default 16)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument("--overwrite", action="store_true", help="recompute shards that are already cached")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from fast_hamer_core.distill.cache import build_teacher_cache
    from fast_hamer_core.distill.config import load_config
    from fast_hamer_core.distill.trainer import crop_config, resolve_teacher_checkpoint
    from fast_hamer_core.mano import MANO21
    from fast_hamer_core.models.checkpoint import load_model
    from fast_hamer_core.models.registry import get_config
    from fast_hamer_core.pipeline import resolve_device

    config = load_config(args.config, args.overrides)
    out = args.out or config.distill.cache_dir
    if not out:
        raise ValueError("no cache directory: pass --out or set distill.cache_dir in the config")
    device = resolve_device(args.device)
    sources = config.data.sources()
    ckpt = resolve_teacher_checkpoint(config)
    teacher = load_model(ckpt, device=device, model_name=config.teacher.model)
    teacher.set_mano(MANO21(config.mano))
    stats = build_teacher_cache(
        teacher,
        sources,
        out,
        crop_config(get_config(config.student.model)),
        features=args.features,
        batch_size=args.batch_size,
        device=device,
        overwrite=args.overwrite,
        teacher_name=f"{config.teacher.model}:{ckpt}",
        progress=True,
    )
    print(
        f"teacher cache {out}: {stats['samples']} hands in {stats['shards']} shards "
        f"({stats['skipped_shards']} already cached) in {stats['seconds']:.1f} s"
    )
    return 0
