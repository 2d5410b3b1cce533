"""``fast-hamer eval``: accuracy on FreiHAND / HO3D-v2, speed and size -> result JSON + server predictions."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("fast_hamer.eval")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint on FreiHAND or HO3D-v2 (accuracy, FPS, params, GFLOPs)",
        description="Run a checkpoint (ours, or HaMeR's .ckpt) over a benchmark's evaluation split in its "
        "published layout and write a result JSON: PA-MPJPE / PA-MPVPE (mm), F@5mm / F@15mm, PCK AUC "
        "(0-50 mm) where ground truth is available, FPS at batch 1 and 4 (median after warm-up, device "
        "synchronised), parameters and GFLOPs. Predictions are written as the zip (pred.json inside) the "
        "FreiHAND / HO3D evaluation servers take (HO3D-v2's ground truth is withheld: upload that zip). "
        "Output "
        "names come from the checkpoint (its file name); existing files are kept unless --force.",
        epilog="example: fast-hamer eval --checkpoint students/mobilenetv3_large/x.pt --dataset freihand "
        "--root ~/data/FreiHAND_pub_v2_eval --out results/mnv3_freihand.json",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="checkpoint (.pt ours, .ckpt HaMeR) or a model name (its newest checkpoint)",
    )
    p.add_argument("--dataset", required=True, choices=("freihand", "ho3d"))
    p.add_argument("--root", required=True, help="dataset folder in its published layout")
    p.add_argument(
        "--mano", help="MANO_RIGHT .npz/.pkl (default: the converted file in the models directory)"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument(
        "--batch-size", type=int, default=16, help="inference batch size for accuracy (default 16)"
    )
    p.add_argument("--limit", type=int, help="evaluate only the first N samples (smoke tests)")
    p.add_argument("--out", help="result JSON (default results/<label>_<dataset>.json)")
    p.add_argument(
        "--predictions",
        help="server upload: .zip with pred.json inside (default next to --out: <out stem>_pred.zip), "
        "or .json",
    )
    p.add_argument(
        "--label",
        help="name of this model in tables and plots (default: the checkpoint's file name without suffix)",
    )
    p.add_argument("--force", action="store_true", help="replace existing result / prediction files")
    p.add_argument("--no-speed", action="store_true", help="skip the FPS / GFLOPs measurement")
    p.add_argument("--speed-batches", default="1,4", help="batch sizes for FPS (default 1,4)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs before timing (default 10)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per batch size (default 50)")
    p.add_argument("--fp16", action="store_true", help="time under fp16 autocast (GPU only)")
    p.set_defaults(func=run)


#: Checkpoint file stems that name no run: the label comes from the folder above instead.
GENERIC_STEMS = ("last", "model", "checkpoint", "best")


def checkpoint_label(checkpoint: Path) -> str:
    """The name results of ``checkpoint`` get: its file stem (``smoke_hybrid.pt`` -> ``smoke_hybrid``), or
    for a generic stem (``last.ckpt``, ``step=N.ckpt``) the run folder's name plus the stem."""
    stem = checkpoint.stem if checkpoint.is_file() else checkpoint.name
    if stem in GENERIC_STEMS or stem.startswith("step="):
        run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
        return f"{run.name}_{stem.replace('=', '')}"
    return stem


def run(args: argparse.Namespace) -> int:

    from fast_hamer_core.evaluation.benchmark import benchmark
    from fast_hamer_core.evaluation.datasets import open_eval_set
    from fast_hamer_core.evaluation.protocol import evaluate
    from fast_hamer_core.mano import resolve_mano_path
    from fast_hamer_core.models.checkpoint import load_model
    from fast_hamer_core.pipeline import resolve_device

    device = resolve_device(args.device)
    dataset = open_eval_set(args.dataset, args.root)  # a missing dataset fails before the model loads
    from fast_hamer_core.assets import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.checkpoint)  # a model name -> its newest checkpoint (logged)
    label = args.label or checkpoint_label(checkpoint)
    out = Path(args.out) if args.out else Path("results") / f"{label}_{args.dataset}.json"
    preds = Path(args.predictions) if args.predictions else out.with_name(out.stem + "_pred.zip")
    if out.suffix != ".json":
        raise ValueError(f"--out {out}: the result file must end in .json")
    if preds.resolve() == out.resolve():
        raise ValueError(f"--predictions and --out are the same file: {out}")
    existing = [p for p in (out, preds) if p.exists()]
    if existing and not args.force:
        raise ValueError(
            f"{' and '.join(map(str, existing))} already exist(s); pass --force to replace, "
            "or --out / --label for another name"
        )
    model = load_model(checkpoint, mano_path=resolve_mano_path(args.mano), device=device)
    speed = None
    if not args.no_speed:
        batches = tuple(int(b) for b in args.speed_batches.split(",") if b.strip())
        speed = benchmark(model, device, batches, args.warmup, args.runs, args.fp16)
    result = evaluate(
        model,
        dataset,
        device,
        args.batch_size,
        args.limit,
        preds,
        speed,
        extra={"label": label, "checkpoint": str(checkpoint), "root": str(args.root)},
        progress=True,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    m = result["metrics"]
    if m:
        print(
            f"{label} on {args.dataset} ({result['num_samples']} hands): PA-MPJPE {m['pa_mpjpe_mm']:.2f} mm, "
            f"PA-MPVPE {m['pa_mpvpe_mm']:.2f} mm, F@5 {m['f@5mm']:.3f}, F@15 {m['f@15mm']:.3f}, "
            f"AUC {m['auc_joints']:.3f}"
        )
    else:
        print(f"{label} on {args.dataset}: ground truth withheld; upload {preds} to the evaluation server")
    if speed:
        fps = ", ".join(f"{k} {v['fps']:.1f} FPS" for k, v in speed["latency"].items())
        print(
            f"speed on {speed['device']}: {fps}; {speed['params'] / 1e6:.1f} M params, "
            f"{speed['gflops']:.1f} GFLOPs"
        )
    print(f"result: {out}")
    return 0
