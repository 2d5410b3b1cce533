"""GPU check in one call (run by ``gpu_check.sh``): export, parity of every runtime, and the benchmark.

For each model (random weights; speed and parity do not depend on the values; MANO from ``--mano`` or a
random stand-in of its shapes):

1. torch CUDA fp16 (autocast, as the pipeline runs it) vs fp32: network outputs and MANO vertices;
2. ONNX export, checked with ONNX Runtime on the CPU at batch 1 and 3;
3. ONNX Runtime with the CUDA execution provider vs torch fp32 (when ``onnxruntime-gpu`` is installed);
4. TensorRT fp32 and fp16 engines vs torch fp32 (when ``tensorrt`` is importable);
5. the pipeline (fixed boxes on a synthetic image) with each available runtime vs the torch model:
   the largest vertex / 3D joint difference of the final HandResults, in metres.

Then ``fast-hamer bench --device cuda`` over the runtimes that worked. Everything goes to ``--out``:
``gpu_check.json`` (every number and every skip with its reason), ``bench.json``, ``bench.txt``,
``bench.png``. Exit status 1 if any parity check failed. Each step is bounded by ``--budget`` seconds
overall: once spent, the remaining steps are recorded as skipped ("time budget").

``--device cpu`` runs the same plumbing without a GPU (the CUDA steps are skipped): the unit tests do.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger("fast_hamer.gpu_check")

DEFAULT_MODELS = ("mobilenetv3_large", "convnext_tiny", "resnet50", "hamer_vith")
#: Models also built as TensorRT engines (a ViT-H engine build alone can take minutes).
DEFAULT_TRT_MODELS = ("mobilenetv3_large", "convnext_tiny", "resnet50")


class Budget:
    """Wall-clock budget shared by all steps."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def spent(self) -> bool:
        return self.left() <= 0


def environment() -> dict[str, Any]:
    """Versions and what is importable / available (GPU name, ONNX Runtime providers, TensorRT)."""
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda_version"] = torch.version.cuda
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError as exc:
        env["onnxruntime"] = f"missing: {exc}"
    try:
        import tensorrt

        env["tensorrt"] = tensorrt.__version__
    except ImportError as exc:
        env["tensorrt"] = f"missing: {exc}"
    return env


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float().to(a.device)).abs().max())


def fp16_parity(model, device: str, batch: int = 3, seed: int = 0) -> dict[str, Any]:
    """torch autocast fp16 vs fp32 on ``device``: max |diff| per network output and of MANO vertices (m)."""
    from fast_hamer_core.export import FP16_TOLERANCE, random_crops

    x = random_crops(model.config, batch, torch.Generator().manual_seed(seed), device)
    with torch.inference_mode():
        ref = model(x)
        with torch.autocast("cuda", dtype=torch.float16):
            half = model(x)
    refs = {"pred_cam": ref["pred_cam"], **ref["pred_mano_params"]}
    halves = {"pred_cam": half["pred_cam"], **half["pred_mano_params"]}
    atol, rtol = FP16_TOLERANCE
    diffs = {k: _max_diff(refs[k], halves[k]) for k in refs}
    bounds = {k: atol + rtol * float(refs[k].abs().max()) for k in refs}
    ok = all(diffs[k] <= bounds[k] for k in refs)
    if "pred_vertices" in ref:  # reported, not bounded: its scale depends on the MANO file
        diffs["vertices_m"] = _max_diff(ref["pred_vertices"], half["pred_vertices"])
    return {"max_abs_diff": diffs, "bound": bounds, "ok": ok}


def pipeline_parity(model, runner, device: str) -> dict[str, Any]:
    """HandResults of the pipeline with ``runner`` vs with the torch ``model`` (fp32), fixed boxes."""
    from fast_hamer_core.geometry import PinholeCamera
    from fast_hamer_core.pipeline import HandReconstructor
    from fast_hamer_core.types import Detection

    rng = np.random.default_rng(0)
    image = np.repeat(np.repeat(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), 8, 0), 8, 1)  # 480x640
    camera = PinholeCamera(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)
    dets = [
        Detection(box=[100, 120, 220, 260], score=1.0, side="right", side_score=1.0),
        Detection(box=[380, 140, 500, 300], score=1.0, side="left", side_score=1.0),
    ]
    ref = HandReconstructor(model=model, device=device, fp16=False).reconstruct(
        image, camera, detections=dets
    )
    got = HandReconstructor(model=runner, device=device, fp16=False).reconstruct(
        image, camera, detections=dets
    )
    out = {
        "vertices_m": max(
            float(np.abs(a.vertices - b.vertices).max()) for a, b in zip(ref, got, strict=True)
        ),
        "keypoints_3d_m": max(
            float(np.abs(a.keypoints_3d - b.keypoints_3d).max()) for a, b in zip(ref, got, strict=True)
        ),
        "keypoints_2d_px": max(
            float(np.abs(a.keypoints_2d - b.keypoints_2d).max()) for a, b in zip(ref, got, strict=True)
        ),
    }
    return out


def run_checks(args: argparse.Namespace) -> dict[str, Any]:
    """All checks (module docstring); returns the report (also written to ``args.out/gpu_check.json``)."""
    from fast_hamer_core import bench, export
    from fast_hamer_core.runtime import OnnxRuntimeHandModel, RuntimeUnavailableError, TensorRTHandModel

    budget = Budget(args.budget)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    device = args.device
    cuda = device.startswith("cuda")
    report: dict[str, Any] = {
        "environment": environment(),
        "device": device,
        "models": {},
        "skipped": [],
        "failures": [],
    }
    notes: list[str] = []
    mano = bench.load_mano_or_stand_in(args.mano, notes)
    report["notes"] = notes
    working_runtimes = {"torch"}

    def skip(model: str, step: str, reason: str) -> None:
        report["skipped"].append({"model": model, "step": step, "reason": reason})
        log.info("%s / %s: skipped (%s)", model, step, reason)

    def step(model: str, name: str, fn, record: dict) -> Any:
        if budget.spent():
            skip(model, name, "time budget")
            return None
        t0 = time.monotonic()
        try:
            value = fn()
        except (RuntimeUnavailableError, ImportError) as exc:
            skip(model, name, str(exc))
            return None
        except Exception as exc:
            report["failures"].append({"model": model, "step": name, "error": f"{type(exc).__name__}: {exc}"})
            log.error("%s / %s failed:\n%s", model, name, traceback.format_exc())
            return None
        record[name] = value if not hasattr(value, "to_dict") else value.to_dict()
        if isinstance(record[name], dict) and record[name].get("ok") is False:
            report["failures"].append({"model": model, "step": name, "error": "parity over the bound"})
        log.info("%s / %s: done in %.1f s", model, name, time.monotonic() - t0)
        return value

    for name in args.models:
        rec: dict[str, Any] = {}
        report["models"][name] = rec
        model = bench.load_torch_model(name, device)
        model.set_mano(mano.to(device))
        if cuda:
            step(name, "torch_fp16_vs_fp32", lambda m=model: fp16_parity(m, device), rec)
        else:
            skip(name, "torch_fp16_vs_fp32", "needs CUDA")
        onnx_path = work / f"{name}.onnx"
        exported = step(
            name,
            "onnx_export_ort_cpu",
            lambda m=model, p=onnx_path: export.export_onnx(m, p, check_batches=(1, 3)).parity,
            rec,
        )
        if exported is not None and cuda:

            def ort_cuda(m=model, p=onnx_path):
                runner = OnnxRuntimeHandModel(
                    p, mano=mano, providers="cuda", device_id=torch.device(device).index or 0
                )
                parity = export.check_parity(m, runner, (1, 3))
                return {**parity.to_dict(), "pipeline": pipeline_parity(m, runner, device)}

            if step(name, "onnxruntime_cuda", ort_cuda, rec) is not None:
                working_runtimes.add("onnxruntime")
        elif exported is not None:

            def ort_cpu_pipeline(m=model, p=onnx_path):
                return pipeline_parity(m, OnnxRuntimeHandModel(p, mano=mano, providers="cpu"), device)

            if step(name, "onnxruntime_cpu_pipeline", ort_cpu_pipeline, rec) is not None:
                working_runtimes.add("onnxruntime")
        if name not in args.trt_models:
            skip(name, "tensorrt", "not in --trt-models")
        elif not cuda:
            skip(name, "tensorrt", "needs CUDA")
        else:
            for fp16 in (False, True):

                def trt(m=model, fp16=fp16):
                    path = work / f"{m.config.name}{'_fp16' if fp16 else ''}.engine"
                    result = export.export_tensorrt(m, path, fp16=fp16, check_batches=(1, 3))
                    runner = TensorRTHandModel(path, mano=mano, device=device)
                    return {**result.parity.to_dict(), "pipeline": pipeline_parity(m, runner, device)}

                if step(name, f"tensorrt_{'fp16' if fp16 else 'fp32'}", trt, rec) is not None:
                    working_runtimes.add("tensorrt")
        del model
        if cuda:
            torch.cuda.empty_cache()

    if args.bench and not budget.spent():
        runtimes = [r for r in ("torch", "onnxruntime", "tensorrt") if r in working_runtimes]
        detector = "mediapipe" if _importable("mediapipe") else "none"
        opts = bench.BenchOptions(
            models=tuple(args.models),
            runtimes=tuple(runtimes),
            batches=tuple(args.batch),
            device=device,
            repeats=args.repeats,
            budget_s=min(10.0, budget.left() / 20),
            detector=detector,
            mano=args.mano,
            work_dir=str(work / "bench"),
            frames=args.frames,
            fp16=args.fp16,
        )
        try:
            result = bench.run_bench(opts, progress=log.info)
            (out_dir / "bench.txt").write_text(bench.format_tables(result) + "\n")
            bench.write_json(result, out_dir / "bench.json")
            bench.plot(result, out_dir / "bench.png")
            report["bench"] = {
                "runtimes": runtimes,
                "detector": detector,
                "tables": bench.format_tables(result),
            }
        except Exception as exc:
            report["failures"].append(
                {"model": "*", "step": "bench", "error": f"{type(exc).__name__}: {exc}"}
            )
            log.error("bench failed:\n%s", traceback.format_exc())
    elif args.bench:
        skip("*", "bench", "time budget")
    report["ok"] = not report["failures"]
    (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    return report


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _csv(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fast_hamer_core.runtime.gpu_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="gpu_check_out", help="output folder (default gpu_check_out)")
    p.add_argument("--device", default="cuda", help="cuda[:N] (default) or cpu (plumbing only)")
    p.add_argument("--models", type=_csv, default=DEFAULT_MODELS, help="comma list of models")
    p.add_argument("--trt-models", type=_csv, default=DEFAULT_TRT_MODELS, help="models built with TensorRT")
    p.add_argument("--mano", help="MANO file (default: the converted one, else a random stand-in)")
    p.add_argument("--batch", type=lambda t: tuple(int(v) for v in _csv(t)), default=(1, 2, 4, 8))
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--fp16", action="store_true", help="bench with fp16 (torch autocast, fp16 engines)")
    p.add_argument("--no-bench", dest="bench", action="store_false")
    p.add_argument("--budget", type=float, default=420.0, help="seconds for everything (default 420)")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU (use --device cpu for a plumbing run)", file=sys.stderr)
        return 2
    report = run_checks(args)
    summary = {k: report[k] for k in ("ok", "failures", "skipped")}
    print(json.dumps(summary, indent=1))
    if "bench" in report:
        print(report["bench"]["tables"])
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
