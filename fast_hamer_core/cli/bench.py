"""``fast-hamer bench``: network latency per model / runtime / batch, and the pipeline's frame rate."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("fast_hamer.bench")


def _csv(kind):
    def parse(text: str):
        try:
            return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad list {text!r}: {exc}") from exc

    return parse


def register(sub: argparse._SubParsersAction) -> None:
    from fast_hamer_core.bench import DEFAULT_MODELS

    p = sub.add_parser(
        "bench",
        help="benchmark models and runtimes (latency, FLOPs, pipeline FPS)",
        description="Measure every model in every runtime on this machine: parameters, GFLOPs, network "
        "latency (median / p95 per batch size, fresh random crops, warm-up, device sync) and the "
        "end-to-end pipeline rate on a real 640x480 photo with each stage's share. Ratios (runtime vs "
        "torch, student vs teacher) are the headline; absolute times come with the device name. "
        "Models are registered names (random weights) or checkpoint files. Runtimes that cannot run here "
        "(e.g. TensorRT without a GPU) are skipped with the reason.",
    )
    p.add_argument(
        "--models",
        type=_csv(str),
        default=DEFAULT_MODELS,
        help=f"comma list (default {','.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--runtimes",
        type=_csv(str),
        default=("torch", "onnxruntime"),
        help="comma list of torch,onnxruntime,tensorrt (default torch,onnxruntime)",
    )
    p.add_argument("--batch", type=_csv(int), default=(1, 2, 4), help="batch sizes (default 1,2,4)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument(
        "--budget",
        type=float,
        default=15.0,
        help="seconds per measurement; stops early after 3 calls once spent (default 15)",
    )
    p.add_argument("--threads", type=int, help="CPU threads for torch and ONNX Runtime (default: all CPUs)")
    p.add_argument("--image", help="photo for the pipeline (default: the sample photo hamer_test5.jpg)")
    p.add_argument(
        "--input",
        help="frames: an image (--stream: a moving sequence made from it), an image folder or a video file; "
        "without --stream its first frame is the pipeline photo",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="time the frame mode (per-image path) and the stream mode (stream detector, tracking by "
        "reconstruction, overlapping stages) on the same frames in order: throughput, latency at --rate, "
        "palm searches and mirror passes per frame, frames with all hands found",
    )
    p.add_argument("--stream-frames", type=int, default=150, help="--stream: frames used (default 150)")
    p.add_argument(
        "--rate", type=float, default=30.0, help="--stream: camera rate for the latency run, Hz (default 30)"
    )
    p.add_argument(
        "--search-every",
        type=int,
        default=10,
        help="--stream: palm search every k frames while hands are tracked (default 10)",
    )
    p.add_argument(
        "--body-every",
        type=int,
        default=15,
        help="--stream: look for hands at people's arms every k frames (node: stream.body_every_frames; "
        "0: never; default 15)",
    )
    p.add_argument(
        "--lite-palms",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--stream: every whole-image palm search runs the lite palm detector too (node: "
        "stream.lite_palms; default on)",
    )
    p.add_argument(
        "--max-unconfirmed-frames",
        type=int,
        default=5,
        help="--stream: frames a mesh track is carried without a detection (default 5)",
    )
    p.add_argument("--frames", type=int, default=20, help="timed pipeline frames (default 20)")
    p.add_argument(
        "--detector",
        choices=("mediapipe", "none"),
        default="mediapipe",
        help="pipeline detector; 'none' uses two fixed boxes (default mediapipe)",
    )
    p.add_argument(
        "--detector-model", help="MediaPipe hand_landmarker.task (default: resolved automatically)"
    )
    p.add_argument("--no-pipeline", action="store_true", help="network latency only")
    p.add_argument("--mano", help="MANO_RIGHT file (default: the converted one; a random stand-in if none)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="onnxruntime: int8 weights for the matrix products (as `fast-hamer export --int8`)",
    )
    p.add_argument("--fp16", action="store_true", help="CUDA: torch autocast fp16 / fp16 TensorRT engines")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo", help="ONNX exporter")
    p.add_argument("--work-dir", help="keep exported ONNX / engine files here (default: a temporary folder)")
    p.add_argument("--out", type=Path, help="write the full result as JSON here")
    p.add_argument("--plot", type=Path, help="write a latency plot (PNG) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core import bench

    opts = bench.BenchOptions(
        models=args.models,
        runtimes=args.runtimes,
        batches=args.batch,
        device=args.device,
        repeats=args.repeats,
        warmup=args.warmup,
        budget_s=args.budget,
        threads=args.threads,
        pipeline=not args.no_pipeline,
        image=args.image,
        frames=args.frames,
        detector=args.detector,
        detector_model=args.detector_model,
        mano=args.mano,
        fp16=args.fp16,
        work_dir=args.work_dir,
        exporter=args.exporter,
        int8=args.int8,
        stream=args.stream,
        input=args.input,
        stream_frames=args.stream_frames,
        rate_hz=args.rate,
        search_every=args.search_every,
        body_every=args.body_every,
        lite_palms=args.lite_palms,
        max_unconfirmed_frames=args.max_unconfirmed_frames,
    )
    result = bench.run_bench(opts, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(bench.format_tables(result))
    if args.out:
        print(f"wrote {bench.write_json(result, args.out)}")
    if args.plot:
        print(f"wrote {bench.plot(result, args.plot)}")
    return 0
