"""Export the hand-mesh network to ONNX and TensorRT, and check the result against torch.

What is exported: backbone + MANO transformer head (:class:`~fast_hamer_core.runtime.HandNetwork`), one
input ``crops`` (B, 3, 256, 256) float32 ImageNet-normalised with a dynamic batch axis, named outputs
``pred_cam`` (B, 3), ``global_orient`` (B, 1, 3, 3), ``hand_pose`` (B, 15, 3, 3), ``betas`` (B, 10)
(+ ``features`` (B, C, h, w) with ``with_features``). The 6D -> rotation-matrix step is inside the graph.

MANO stays outside: its buffers are licence-gated and would be baked into the shipped file as constants;
the runners apply it in torch from the user's own MANO file, which costs about a millisecond
(:mod:`fast_hamer_core.runtime.base`). The model config travels inside the ``.onnx`` file
(``metadata_props``) and in ``<engine>.json`` beside a TensorRT engine.

Every export is checked: fresh random crops (pixels uniform in [0, 1], normalised like real crops) at
several batch sizes through torch and through the exported file; the largest absolute difference of every
output is reported and must stay below ``atol + rtol * max|torch output|``, else :class:`ExportParityError`.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fast_hamer_core.runtime.base import INPUT_NAME, RuntimeHandModel
from fast_hamer_core.runtime.metadata import network_metadata, write_sidecar
from fast_hamer_core.runtime.torch_model import HandNetwork

if TYPE_CHECKING:
    from fast_hamer_core.models import HandMeshModel
    from fast_hamer_core.models.config import ModelConfig

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("onnx", "tensorrt")
EXPORTERS: tuple[str, ...] = ("dynamo", "torchscript")
DEFAULT_OPSET = 18
#: Largest batch the exported ONNX graph declares (the axis is dynamic; this only bounds the symbol).
MAX_EXPORT_BATCH = 1024
#: Parity bounds (absolute, and relative to the largest magnitude of each torch output).
FP32_TOLERANCE: tuple[float, float] = (1e-3, 1e-3)
#: TensorRT fp32 may still use TF32 in convolutions / matrix products.
TRT_FP32_TOLERANCE: tuple[float, float] = (1e-2, 1e-2)
FP16_TOLERANCE: tuple[float, float] = (5e-2, 5e-2)
#: ONNX with int8 weights in the matrix products (:func:`quantize_int8`).
INT8_TOLERANCE: tuple[float, float] = (5e-2, 5e-2)
#: Operators whose weights :func:`quantize_int8` stores as int8: the MANO head's linear layers and
#: attention (most of the parameters; convolutions stay float: ConvInteger is slow on CPUs).
INT8_OPERATORS: tuple[str, ...] = ("MatMul", "Gemm")
#: Above this, weights go to an external-data file beside the ``.onnx`` (protobuf's 2 GiB limit).
EXTERNAL_DATA_BYTES = 1_800_000_000


class ExportParityError(ValueError):
    """The exported network's outputs differ from torch's by more than the bound."""


@dataclass
class ParityReport:
    """Largest absolute difference per output and batch size between torch and an exported network.

    ``max_abs_diff[name][batch]``, ``bound[name][batch]`` (``atol + rtol * max|reference|``).
    """

    runtime: str
    batch_sizes: tuple[int, ...]
    seed: int
    atol: float
    rtol: float
    max_abs_diff: dict[str, dict[int, float]] = field(default_factory=dict)
    bound: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every output within its bound at every batch size."""
        return all(
            self.max_abs_diff[n][b] <= self.bound[n][b]
            for n in self.max_abs_diff
            for b in self.max_abs_diff[n]
        )

    @property
    def worst(self) -> float:
        """Largest difference over all outputs and batch sizes."""
        return max((d for per in self.max_abs_diff.values() for d in per.values()), default=0.0)

    def failures(self) -> list[str]:
        """``"name@batch: diff > bound"`` for every output over its bound."""
        return [
            f"{n}@batch{b}: {d:.3g} > {self.bound[n][b]:.3g}"
            for n, per in self.max_abs_diff.items()
            for b, d in per.items()
            if d > self.bound[n][b]
        ]

    def table(self) -> str:
        """Plain-text table: one row per output, max |diff| (and bound) per batch size."""
        head = f"{'output':<14}" + "".join(f"{'batch ' + str(b):>24}" for b in self.batch_sizes)
        rows = [f"{self.runtime} vs torch, random crops (seed {self.seed}): max |diff| (bound)", head]
        for name, per in self.max_abs_diff.items():
            cells = "".join(f"{per[b]:>12.2e} ({self.bound[name][b]:.1e})" for b in self.batch_sizes)
            rows.append(f"{name:<14}{cells}")
        rows.append("OK" if self.ok else "FAILED: " + "; ".join(self.failures()))
        return "\n".join(rows)

    def to_dict(self) -> dict:
        """JSON-ready dict (batch sizes as string keys)."""
        return {
            "runtime": self.runtime,
            "batch_sizes": list(self.batch_sizes),
            "seed": self.seed,
            "atol": self.atol,
            "rtol": self.rtol,
            "ok": self.ok,
            "max_abs_diff": {n: {str(b): d for b, d in per.items()} for n, per in self.max_abs_diff.items()},
            "bound": {n: {str(b): d for b, d in per.items()} for n, per in self.bound.items()},
        }


@dataclass
class ExportResult:
    """Where an export went and how it compared with torch (``parity`` is None when not checked)."""

    path: Path
    format: str
    parity: ParityReport | None = None
    onnx_path: Path | None = None


def random_crops(
    config: ModelConfig,
    batch: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """(batch, 3, crop, crop) float32 crops like the pipeline's: uniform pixels, ImageNet-normalised."""
    crop = config.preprocess.crop_size
    pixels = torch.rand(batch, 3, crop, crop, generator=generator)  # (B, 3, H, W) in [0, 1]
    mean = torch.tensor(config.preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(config.preprocess.std).view(1, 3, 1, 1)
    return ((pixels - mean) / std).to(device)


def check_parity(
    model: HandMeshModel,
    runner: RuntimeHandModel,
    batch_sizes: Sequence[int] = (1, 3),
    atol: float = FP32_TOLERANCE[0],
    rtol: float = FP32_TOLERANCE[1],
    seed: int | None = None,
) -> ParityReport:
    """Run fresh random crops through ``model`` (torch, fp32, on the runner's device) and ``runner``'s
    network; report the largest absolute difference of every output at every batch size."""
    seed = secrets.randbits(31) if seed is None else int(seed)
    generator = torch.Generator().manual_seed(seed)
    report = ParityReport(runner.runtime, tuple(int(b) for b in batch_sizes), seed, atol, rtol)
    network = HandNetwork(model, with_features="features" in runner.output_names).eval()
    device = runner.device
    model_device = next(model.parameters()).device
    network.to(device)
    try:
        for b in report.batch_sizes:
            crops = random_crops(runner.config, b, generator, device)
            with torch.inference_mode():
                ref = dict(zip(network.output_names, network(crops), strict=True))
                got = runner.run_network(crops)
            for name in network.output_names:
                r = ref[name].float()
                g = got[name].float().to(r.device)
                if r.shape != g.shape:
                    raise ExportParityError(
                        f"{name}: torch shape {tuple(r.shape)} != {runner.runtime} {tuple(g.shape)}"
                    )
                diff = float((r - g).abs().max())
                if diff != diff:  # NaN
                    diff = float("inf")
                report.max_abs_diff.setdefault(name, {})[b] = diff
                report.bound.setdefault(name, {})[b] = atol + rtol * float(r.abs().max())
    finally:
        network.to(model_device)
    return report


# --------------------------------------------------------------------------------------------------
# ONNX


def export_onnx(
    model: HandMeshModel,
    out_path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    with_features: bool = False,
    exporter: str = "dynamo",
    check: bool = True,
    check_batches: Sequence[int] = (1, 3),
    atol: float = FP32_TOLERANCE[0],
    rtol: float = FP32_TOLERANCE[1],
    seed: int | None = None,
    source: str = "",
    threads: int | None = None,
    fast_head: bool = True,
    int8: bool = False,
) -> ExportResult:
    """Write ``model``'s network (backbone + head, no MANO) to ``out_path`` as ONNX, then check it.

    ``int8``: the file holds int8 weights for :data:`INT8_OPERATORS` (dynamic quantization, ONNX Runtime;
    smaller and faster on CPUs); pass ``atol`` / ``rtol`` such as :data:`INT8_TOLERANCE` for its check.

    ``exporter``: ``"dynamo"`` (torch.export based, the maintained path; handles >2 GB models) or
    ``"torchscript"`` (the older tracer, faster to run). ``check`` compares ONNX Runtime (CPU) with torch
    on fresh random crops at ``check_batches`` and raises :class:`ExportParityError` over the bound.
    ``fast_head`` exports the head as :class:`~fast_hamer_core.runtime.deploy_head.SingleQueryHead` (the
    same function with the single-query shortcuts); the check compares with the original head.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    path = Path(out_path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    network = HandNetwork(model, with_features=with_features, fast_head=fast_head).eval()
    device = next(model.parameters()).device
    example = random_crops(
        model.config, 2, torch.Generator().manual_seed(0), device
    )  # batch 2: not specialised
    metadata = network_metadata(model.config, network.output_names, source=source or model.config.name)
    metadata["fast_hamer.head"] = "single_query" if network.fast_head else "reference"
    n_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
    for noisy in ("onnx_ir", "onnxscript"):  # their INFO logs flood the console during export
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    fp32_path = path.with_name(path.stem + ".fp32.onnx") if int8 else path
    with torch.inference_mode(False), torch.no_grad():
        if exporter == "dynamo":
            _export_dynamo(
                network, example, fp32_path, opset, metadata, external=n_bytes > EXTERNAL_DATA_BYTES
            )
        else:
            _export_torchscript(network, example, fp32_path, opset, metadata)
    if int8:
        try:
            quantize_int8(fp32_path, path)
        finally:
            fp32_path.unlink(missing_ok=True)
            Path(str(fp32_path) + ".data").unlink(missing_ok=True)
    precision = "int8 matrix products" if int8 else "float32"
    log.info(
        "wrote %s (%s, opset %d, %.1f M parameters, %s)", path, exporter, opset, n_bytes / 4e6, precision
    )
    result = ExportResult(path=path, format="onnx", onnx_path=path)
    if check:
        from fast_hamer_core.runtime.onnxruntime_model import OnnxRuntimeHandModel

        runner = OnnxRuntimeHandModel(path, providers="cpu", threads=threads)
        result.parity = check_parity(model, runner, check_batches, atol, rtol, seed)
        _raise_unless_ok(result.parity, path)
    return result


def quantize_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """``fp32_path`` (an ONNX file from :func:`export_onnx`) with int8 weights for :data:`INT8_OPERATORS`
    (ONNX Runtime's dynamic quantization: activations are quantized per call), metadata kept and marked
    ``fast_hamer.precision = int8``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_path = Path(out_path)
    quantize_dynamic(
        str(fp32_path), str(out_path), weight_type=QuantType.QInt8, op_types_to_quantize=list(INT8_OPERATORS)
    )
    model = onnx.load(str(out_path))
    onnx.helper.set_model_props(
        model, {**{p.key: p.value for p in model.metadata_props}, "fast_hamer.precision": "int8"}
    )
    onnx.save(model, str(out_path))
    return out_path


def _export_dynamo(
    network: HandNetwork, example: torch.Tensor, path: Path, opset: int, metadata: dict, external: bool
) -> None:
    program = torch.onnx.export(
        network,
        (example,),
        None,
        input_names=[INPUT_NAME],
        output_names=list(network.output_names),
        opset_version=opset,
        dynamo=True,
        dynamic_shapes={"crops": {0: torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)}},
        optimize=True,
        verify=False,
    )
    program.model.metadata_props.update(metadata)
    program.save(str(path), external_data=external)


def _export_torchscript(
    network: HandNetwork, example: torch.Tensor, path: Path, opset: int, metadata: dict
) -> None:
    import warnings

    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-level shape checks
        torch.onnx.export(
            network,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(network.output_names),
            opset_version=opset,
            dynamo=False,
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in network.output_names}},
        )
    proto = onnx.load(str(path), load_external_data=False)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _raise_unless_ok(report: ParityReport, path: Path) -> None:
    log.info("%s\n%s", path, report.table())
    if not report.ok:
        raise ExportParityError(
            f"{path}: {report.runtime} output differs from torch beyond the bound: "
            + "; ".join(report.failures())
        )


# --------------------------------------------------------------------------------------------------
# TensorRT


def build_tensorrt_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    fp16: bool = False,
    min_batch: int = 1,
    opt_batch: int = 2,
    max_batch: int = 8,
    workspace_gib: float = 4.0,
) -> Path:
    """Build a TensorRT engine from an exported ``.onnx`` with the ``tensorrt`` Python API.

    One optimisation profile for ``crops``: batch ``min_batch`` .. ``max_batch``, tuned for ``opt_batch``.
    ``fp16`` lets TensorRT pick half-precision kernels. The engine is specific to this GPU model and
    TensorRT version. RuntimeUnavailableError without ``tensorrt`` or a GPU.
    """
    from fast_hamer_core.runtime.tensorrt_model import import_tensorrt, require_cuda

    trt = import_tensorrt()
    require_cuda("building a TensorRT engine")
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ValueError(
            f"need 1 <= min_batch <= opt_batch <= max_batch, got {min_batch}, {opt_batch}, {max_batch}"
        )
    onnx_path = Path(onnx_path).expanduser()
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {onnx_path}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise RuntimeError(f"this TensorRT ({trt.__version__}) has no FP16 builder flag")
        config.set_flag(trt.BuilderFlag.FP16)
    shape = tuple(network.get_input(0).shape)[1:]  # (3, crop, crop)
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, (min_batch, *shape), (opt_batch, *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log above)")
    engine_path = Path(engine_path).expanduser()
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    return engine_path


def export_tensorrt(
    model: HandMeshModel,
    engine_path: str | os.PathLike,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    max_batch: int = 8,
    exporter: str = "dynamo",
    check: bool = True,
    check_batches: Sequence[int] = (1, 3),
    tolerance: tuple[float, float] | None = None,
    seed: int | None = None,
    source: str = "",
    fast_head: bool = True,
) -> ExportResult:
    """ONNX (``<engine>.onnx``, checked with ONNX Runtime) -> TensorRT engine + ``<engine>.json``, then
    the engine checked against torch on the GPU (bound: :data:`FP16_TOLERANCE` with ``fp16``)."""
    from fast_hamer_core.runtime.tensorrt_model import import_tensorrt, require_cuda

    import_tensorrt()  # fail before the (slow) ONNX export when TensorRT cannot run here
    require_cuda("building a TensorRT engine")
    engine_path = Path(engine_path).expanduser()
    onnx_path = engine_path.with_suffix(".onnx")
    onnx_result = export_onnx(
        model,
        onnx_path,
        opset=opset,
        exporter=exporter,
        check=check,
        check_batches=check_batches,
        seed=seed,
        source=source,
        fast_head=fast_head,
    )
    build_tensorrt_engine(onnx_path, engine_path, fp16=fp16, max_batch=max_batch, opt_batch=min(2, max_batch))
    metadata = network_metadata(
        model.config, HandNetwork(model).output_names, source=source or model.config.name
    )
    metadata["fast_hamer.precision"] = "fp16" if fp16 else "fp32"
    write_sidecar(engine_path, metadata)
    result = ExportResult(path=engine_path, format="tensorrt", onnx_path=onnx_result.path)
    if check:
        from fast_hamer_core.runtime.tensorrt_model import TensorRTHandModel

        atol, rtol = tolerance or (FP16_TOLERANCE if fp16 else TRT_FP32_TOLERANCE)
        runner = TensorRTHandModel(engine_path)
        result.parity = check_parity(
            model, runner, [b for b in check_batches if b <= max_batch], atol, rtol, seed
        )
        _raise_unless_ok(result.parity, engine_path)
    return result


# --------------------------------------------------------------------------------------------------
# From files (the CLI)


def load_for_export(
    checkpoint: str | os.PathLike | None = None, model_name: str | None = None
) -> HandMeshModel:
    """The model to export, on the CPU in eval mode: from a checkpoint, or (``model_name``) a registered
    architecture with random weights (for benchmarking only: its outputs mean nothing)."""
    if (checkpoint is None) == (model_name is None):
        raise ValueError("give exactly one of a checkpoint or a model name")
    if checkpoint is not None:
        from fast_hamer_core.assets import resolve_checkpoint
        from fast_hamer_core.models import load_model

        path = resolve_checkpoint(checkpoint)  # a model name -> its newest checkpoint
        return load_model(path, mano_path=None, device="cpu").eval()
    from fast_hamer_core.models import create_model

    log.warning("exporting %s with RANDOM weights (for benchmarking; its outputs mean nothing)", model_name)
    return create_model(model_name).eval()


def default_output_path(fmt: str, checkpoint: str | os.PathLike | None, model_name: str | None) -> Path:
    """``best.pt`` -> ``best.onnx`` / ``best.engine`` beside it; a model name -> ``<name>.onnx`` here."""
    suffix = ".onnx" if fmt == "onnx" else ".engine"
    if checkpoint is not None:
        return Path(checkpoint).expanduser().with_suffix(suffix)
    return Path(f"{model_name}{suffix}")
