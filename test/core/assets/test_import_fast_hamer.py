"""``fast-hamer models import RUN_DIR|CKPT``: a Fast-HaMeR run becomes our weights-only student .pt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fixtures.cli import run_cli as run_subcommand
from fixtures.fast_hamer_run import (
    fast_hamer_model_config,
    kd_extras,
    student_state,
    upstream_backbone,
    write_fast_hamer_run,
)
from fixtures.models import one_torch_thread  # noqa: F401  (autouse: one torch thread per test)

from fast_hamer_core.assets.identify import identify, import_asset
from fast_hamer_core.assets.store import Manifest, resolve_checkpoint
from fast_hamer_core.cli import models as models_cli
from fast_hamer_core.models import load_model

NAME = "fh_mobilenet_v3_large"


def run_cli(*argv: str) -> int:
    return run_subcommand(models_cli, ["models", *argv], prog="fast-hamer")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A Fast-HaMeR KD run of the MobileNetV3 student (teacher.* and channel_projection.* inside)."""
    torch.manual_seed(0)
    state = student_state(upstream_backbone("mobilenet_v3", "large"), 960)
    state.update(kd_extras(960))
    run = tmp_path_factory.mktemp("runs") / "mobilenet_large_kd_full"
    write_fast_hamer_run(run, state, fast_hamer_model_config("mobilenet_v3", "large"), step=42_000)
    return run


def test_run_folder_and_ckpt_are_identified_as_fast_hamer_students(run_dir: Path) -> None:
    for path in (run_dir, run_dir / "checkpoints", run_dir / "checkpoints" / "last.ckpt"):
        ident = identify(path)
        assert ident.kind == "lightning_student", path
        assert ident.files["ckpt"] == run_dir / "checkpoints" / "last.ckpt"
        assert ident.files["config"] == run_dir / "model_config.yaml"


def test_import_converts_with_provenance_and_list_shows_it(run_dir: Path, models_dir: Path, capsys) -> None:
    assert run_cli("import", str(run_dir)) == 0
    dst = models_dir / "students" / NAME / "mobilenet_large_kd_full-last.pt"
    assert f"-> {dst}" in capsys.readouterr().out
    payload = torch.load(dst, weights_only=True)  # plain data: no code can run
    meta = payload["metadata"]
    assert meta["source"] == str(run_dir / "checkpoints" / "last.ckpt") and meta["step"] == 42_000
    assert meta["backbone_type"] == "mobilenet_v3 large" and meta["source_format"] == "fast_hamer_lightning"
    assert not any(k.startswith(("teacher.", "channel_projection.", "mano.")) for k in payload["state_dict"])
    assert (
        Manifest(models_dir).entry(dst)["provenance"].startswith("Fast-HaMeR mobilenet_v3 large, step 42000")
    )

    assert run_cli("list") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(NAME))
    assert "student" in row and " ok " in row and "Fast-HaMeR mobilenet_v3 large, step 42000, from " in row

    # the name resolves to it, and it computes what the run folder computes
    assert resolve_checkpoint(NAME) == dst
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        a, b = load_model(dst)(x), load_model(run_dir)(x)
    torch.testing.assert_close(a["pred_cam"], b["pred_cam"], rtol=0, atol=0)
    torch.testing.assert_close(a["features"], b["features"], rtol=0, atol=0)

    with pytest.raises(ValueError, match="already exists; pass --force"):
        import_asset(run_dir / "checkpoints" / "last.ckpt")
    import_asset(run_dir, force=True)


def test_a_broken_run_is_refused_and_nothing_is_written(tmp_path: Path, models_dir: Path) -> None:
    state = student_state(upstream_backbone("mobilenet_v3", "large"), 960)
    ckpt = write_fast_hamer_run(tmp_path / "r", state, fast_hamer_model_config("resnet", 101))
    with pytest.raises(ValueError, match=r"says fh_resnet101, but its backbone weights contradict it"):
        import_asset(ckpt)
    assert not (models_dir / "students").exists()
