"""``fast-hamer export``: a checkpoint's network -> ONNX or a TensorRT engine, checked against torch."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("fast_hamer.export")


def register(sub: argparse._SubParsersAction) -> None:
    from fast_hamer_core.export import DEFAULT_OPSET, EXPORTERS, FORMATS

    p = sub.add_parser(
        "export",
        help="export a mesh network to ONNX or TensorRT",
        description="Export backbone + MANO head (MANO stays outside: licence, and it is cheap) with a "
        "dynamic batch axis, then compare it with torch on fresh random crops at batch 1 and 3: the "
        "largest absolute difference of every output is printed and must stay within the bound.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--checkpoint", help="our .pt checkpoint, HaMeR's .ckpt, or a model name (newest checkpoint)"
    )
    src.add_argument("--model", help="a registered architecture with RANDOM weights (benchmarking only)")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or tensorrt")
    p.add_argument(
        "--out", type=Path, help="output file (default: the checkpoint's name with .onnx / .engine)"
    )
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--fp16", action="store_true", help="TensorRT: allow half-precision kernels")
    p.add_argument(
        "--int8",
        action="store_true",
        help="ONNX: int8 weights for the matrix products (the MANO head; ONNX Runtime dynamic quantization, "
        "about 25-30 %% faster on a CPU), checked against torch with the bound 5e-2 unless --atol",
    )
    p.add_argument(
        "--max-batch", type=int, default=8, help="TensorRT: largest batch of the engine (default 8)"
    )
    p.add_argument(
        "--exporter", choices=EXPORTERS, default="dynamo", help="torch ONNX exporter (default dynamo)"
    )
    p.add_argument("--with-features", action="store_true", help="also output the backbone feature map")
    p.add_argument(
        "--no-fast-head",
        dest="fast_head",
        action="store_false",
        help="export the head as trained, without the single-query shortcuts (same function, slower)",
    )
    p.add_argument(
        "--atol", type=float, help="absolute parity bound (default 1e-3; TensorRT 1e-2, fp16 5e-2)"
    )
    p.add_argument(
        "--rtol", type=float, help="relative parity bound, times max |torch output| (default = atol)"
    )
    p.add_argument("--seed", type=int, help="seed of the random check crops (default: a fresh one)")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with torch")
    p.add_argument("--report", type=Path, help="also write the parity report as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core import export as ex

    if args.fp16 and args.format == "onnx":
        raise ValueError("--fp16 applies to TensorRT engines; for a smaller, faster ONNX file use --int8")
    if args.int8 and args.format != "onnx":
        raise ValueError("--int8 applies to ONNX files (ONNX Runtime); TensorRT engines take --fp16")
    if args.atol is not None and args.atol <= 0:
        raise ValueError("--atol must be > 0")
    model = ex.load_for_export(args.checkpoint, args.model)
    out = args.out or ex.default_output_path(args.format, args.checkpoint, args.model)
    source = str(args.checkpoint) if args.checkpoint else f"{args.model} (random weights)"
    check = not args.no_check
    if args.format == "onnx":
        atol = args.atol or (ex.INT8_TOLERANCE if args.int8 else ex.FP32_TOLERANCE)[0]
        result = ex.export_onnx(
            model,
            out,
            opset=args.opset,
            with_features=args.with_features,
            exporter=args.exporter,
            check=check,
            atol=atol,
            rtol=args.rtol if args.rtol is not None else atol,
            seed=args.seed,
            source=source,
            fast_head=args.fast_head,
            int8=args.int8,
        )
    else:
        tol = None
        if args.atol is not None:
            tol = (args.atol, args.rtol if args.rtol is not None else args.atol)
        result = ex.export_tensorrt(
            model,
            out,
            fp16=args.fp16,
            opset=args.opset,
            max_batch=args.max_batch,
            exporter=args.exporter,
            check=check,
            tolerance=tol,
            seed=args.seed,
            source=source,
            fast_head=args.fast_head,
        )
    print(f"wrote {result.path} ({result.format}, model {model.config.name})")
    if result.parity is not None:
        print(result.parity.table())
        print(f"max abs difference: {result.parity.worst:.3g}")
        if args.report:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps(result.parity.to_dict(), indent=1))
    return 0
