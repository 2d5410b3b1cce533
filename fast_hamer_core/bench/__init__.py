"""``fast-hamer bench``: how fast each model runs in each runtime, alone and in the whole pipeline.

Two measurements, same run, same machine (ratios are the headline; absolute times carry the device name):

1. **Network latency** (backbone + head, what a runtime changes): per model, runtime and batch size, the
   median and 95th percentile of ``runner.run_network(crops)`` over fresh random crops (a new tensor
   before every timed call, made outside the timed region), after warm-up, with a device sync around
   every call on CUDA. Columns ``x_torch`` (torch time / this runtime's time, same model and batch) and
   ``x_teacher`` (teacher time / this model's time, same runtime and batch; the teacher's torch time
   when the teacher was not run in this runtime).
2. **End-to-end pipeline** on a real photo (default: ``hamer_test5.jpg`` of the project's sample photos,
   centre-cropped to 4:3 and resized to 640x480, two hands): :class:`HandReconstructor` with the detector,
   crops, network, MANO and result assembly, frames per second, and each stage's share of the frame.
   Stages are timed without touching the pipeline: the detector is wrapped by a timing proxy, the runner
   records its own network / MANO split (:attr:`RuntimeHandModel.last_timings`) and call stamps, so
   ``crops`` = detector end -> runner start and ``outputs`` = runner end -> results returned.

What each runtime runs: ``torch`` is the trained model in eager mode, as the pipeline runs a checkpoint
(all ``--threads``); ``onnxruntime`` / ``tensorrt`` run the file ``fast-hamer export`` writes (with the
single-query head, :mod:`fast_hamer_core.runtime.deploy_head`), each checked against torch when exported.
ONNX Runtime uses ``--threads`` intra-op threads and torch keeps one (it only crops and runs MANO then;
see :func:`~fast_hamer_core.runtime.load_runtime_model`); its latency is measured with ONNX Runtime's
default spinning worker threads, its pipeline without them (:func:`pipeline_runner`).

Parameters count backbone + head; GFLOPs are counted by ``torch.utils.flop_counter`` at batch 1 on the
``meta`` device (no memory, no time; one multiply-add = 2 FLOPs).

Models are registered names (random weights: speed does not depend on the values) or checkpoint files.
Without the user's MANO file, a random stand-in of MANO's exact shapes is used (same cost, meaningless
meshes); the report says so.
"""

from fast_hamer_core.bench.inputs import (
    default_image_path,
    load_bench_image,
    load_mano_or_stand_in,
    load_torch_model,
    stand_in_mano_arrays,
)
from fast_hamer_core.bench.measure import (
    count_gflops,
    count_params,
    cuda_sync,
    device_name,
    summarize,
    time_calls,
)
from fast_hamer_core.bench.options import (
    DEFAULT_IMAGE_NAME,
    DEFAULT_MODELS,
    LATENCY_COLUMNS,
    MIN_RUNS,
    PIPELINE_COLUMNS,
    PIPELINE_SIZE,
    STAGES,
    STREAM_COLUMNS,
    TEACHER,
    BenchOptions,
    BenchResult,
    options_dict,
)
from fast_hamer_core.bench.pipeline import FixedDetector, TimedDetector, time_pipeline
from fast_hamer_core.bench.report import format_tables, plot, write_json
from fast_hamer_core.bench.run import add_ratios, run_bench
from fast_hamer_core.bench.runners import make_runner, pipeline_runner

__all__ = [
    "DEFAULT_IMAGE_NAME",
    "DEFAULT_MODELS",
    "LATENCY_COLUMNS",
    "MIN_RUNS",
    "PIPELINE_COLUMNS",
    "PIPELINE_SIZE",
    "STAGES",
    "STREAM_COLUMNS",
    "TEACHER",
    "BenchOptions",
    "BenchResult",
    "FixedDetector",
    "TimedDetector",
    "add_ratios",
    "count_gflops",
    "count_params",
    "cuda_sync",
    "default_image_path",
    "device_name",
    "format_tables",
    "load_bench_image",
    "load_mano_or_stand_in",
    "load_torch_model",
    "make_runner",
    "options_dict",
    "pipeline_runner",
    "plot",
    "run_bench",
    "stand_in_mano_arrays",
    "summarize",
    "time_calls",
    "time_pipeline",
    "write_json",
]
