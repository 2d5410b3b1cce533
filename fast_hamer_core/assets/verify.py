"""``models verify``: load each present asset the cheap way and say what is broken.

Per kind: the teacher's pickle is parsed (never executed) for its state-dict key names, compared with
the ``hamer_vith`` architecture built on the meta device (no memory, no weights), and its
``model_config.yaml`` is checked against the registry; a student is read with
``torch.load(weights_only=True)`` and its keys and shapes compared with its architecture (meta
device); MANO arrays are loaded and their shapes checked; the ``.task`` zip's members must be TFLite
models. Every file with a recorded sha256 is re-hashed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fast_hamer_core.assets import store
from fast_hamer_core.assets.identify import check_task_file, tflite_problem, torch_file_summary

if TYPE_CHECKING:
    import torch

    from fast_hamer_core.models.config import ModelConfig

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_MISSING = "missing"
STATUS_BROKEN = "broken"
_MODEL_PREFIXES = ("backbone.", "mano_head.")
_MAX_LISTED = 5


@dataclass
class AssetReport:
    """Result of checking one asset: ``status`` ok / missing / broken, the checksum status, problems
    (make it broken) and notes (informational)."""

    asset: store.Asset
    status: str
    checksum: str = store.CHECKSUM_UNKNOWN
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        return self.status == STATUS_BROKEN


def _expected_state(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Backbone + head tensor shapes of ``config``'s architecture, built on the meta device."""
    import torch

    from fast_hamer_core.models.registry import create_model

    with torch.device("meta"):
        model = create_model(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(_MODEL_PREFIXES)}


def _listed(items: list[str]) -> str:
    return f"{len(items)}: {items[:_MAX_LISTED]}{' ...' if len(items) > _MAX_LISTED else ''}"


def student_problems(config: ModelConfig, state: dict[str, torch.Tensor]) -> list[str]:
    """Missing / unexpected / wrong-shaped keys of a student state dict vs its architecture."""
    expected = _expected_state(config)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} != {expected[k]}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != expected[k]
    )
    return [
        f"{what} keys {_listed(items)}"
        for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong-shaped", shapes))
        if items
    ]


def _check_student(path: Path, report: AssetReport) -> None:
    from fast_hamer_core.models.checkpoint import load_checkpoint
    from fast_hamer_core.models.registry import get_config, list_models

    config, state, metadata = load_checkpoint(path)
    report.problems += student_problems(config, state)
    if config.name != path.parent.name:
        report.problems.append(
            f"model_name {config.name!r} but filed under students/{path.parent.name}/ "
            "(name resolution would pick it for the wrong model)"
        )
    if config.name in list_models() and get_config(config.name) != config:
        report.notes.append("its stored config differs from the registry's (it loads with the stored one)")
    created = store.created_from_metadata(metadata)
    report.notes.append(f"{len(state)} tensors" + (f", created {created}" if created else ""))


def _check_teacher(path: Path, report: AssetReport) -> None:
    summary = torch_file_summary(path)
    if "state_dict" not in summary.strings:
        report.problems.append("no Lightning 'state_dict' in the checkpoint")
        return
    from fast_hamer_core.models.registry import get_config

    expected = _expected_state(get_config(store.TEACHER_NAME))
    missing = sorted(set(expected) - set(summary.strings))
    if missing:
        report.problems.append(f"missing backbone/head keys {_listed(missing)}")
    else:
        report.notes.append(f"all {len(expected)} backbone + head keys present")


def _check_teacher_config(path: Path, report: AssetReport) -> None:
    import yaml

    from fast_hamer_core.models.checkpoint import check_hamer_config
    from fast_hamer_core.models.registry import get_config

    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        report.problems.append(f"not valid YAML ({err})")
        return
    check_hamer_config(cfg, get_config(store.TEACHER_NAME), source=str(path))


def _check_mano(path: Path, report: AssetReport) -> None:
    from fast_hamer_core.mano import load_mano_arrays
    from fast_hamer_core.synth.mano import SYNTHETIC_MANO_MESSAGE, is_synthetic_mano

    arrays = load_mano_arrays(path)  # checks every required array's shape
    report.notes.append(f"{arrays['v_template'].shape[0]} vertices, {arrays['f'].shape[0]} faces")
    if is_synthetic_mano(path):  # copied in by hand: meshes would be blobs
        report.problems.append(f"SYNTHETIC: this {SYNTHETIC_MANO_MESSAGE}")


def _check_detector(path: Path, report: AssetReport) -> None:
    if path.suffix == ".tflite":  # one of the loose models beside the bundle
        with path.open("rb") as fh:
            problem = tflite_problem(path.name, fh.read(8))
        report.problems += [problem] if problem else []
        return
    report.problems += check_task_file(path)


_CHECKS: dict[str, Any] = {
    "student": _check_student,
    "MANO": _check_mano,
    "detector": _check_detector,
}


def verify_asset(asset: store.Asset, manifest: store.Manifest) -> AssetReport:
    """Check one asset (see the module docstring); never raises for a broken file, reports it."""
    if not asset.present:
        return AssetReport(asset, STATUS_MISSING)
    report = AssetReport(asset, STATUS_OK)
    if asset.kind == "teacher":
        check = _check_teacher_config if asset.path.name == store.HAMER_CONFIG_NAME else _check_teacher
    else:
        check = _CHECKS[asset.kind]
    try:
        check(asset.path, report)
    except (ValueError, OSError, RuntimeError, KeyError, EOFError) as err:
        report.problems.append(str(err))
    report.checksum = manifest.checksum_status(asset.path, rehash=True)
    if report.checksum == store.CHECKSUM_MISMATCH:
        recorded = manifest.entry(asset.path) or {}
        report.problems.append(
            f"sha256 differs from the one recorded on {recorded.get('recorded', '?')} "
            "(file changed or corrupted since import/fetch)"
        )
    if report.problems:
        report.status = STATUS_BROKEN
    return report


def verify_assets(models_dir: str | os.PathLike | None = None) -> list[AssetReport]:
    """Check every known asset of the models directory; see :class:`AssetReport`."""
    manifest = store.Manifest(models_dir)
    return [verify_asset(a, manifest) for a in store.known_assets(models_dir)]
