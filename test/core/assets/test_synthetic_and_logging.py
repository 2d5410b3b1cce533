"""The synthetic MANO of ``fast-hamer synth-data`` never passes for the licensed one; every resolution of
a model name is logged with the file it chose."""

from __future__ import annotations

import logging

import pytest
from fixtures.cli import run_cli

from fast_hamer_core.assets.identify import identify, import_asset
from fast_hamer_core.assets.store import resolve_checkpoint
from fast_hamer_core.assets.verify import verify_assets
from fast_hamer_core.cli import mano as mano_cli
from fast_hamer_core.mano import MANOFileError, load_mano_arrays, resolve_mano_path
from fast_hamer_core.synth.mano import (
    SYNTHETIC_MANO_NAME,
    is_synthetic_mano,
    write_synthetic_mano_npz,
)


@pytest.fixture
def synthetic(tmp_path):
    return write_synthetic_mano_npz(tmp_path / "smoke" / SYNTHETIC_MANO_NAME, marker=True)


def test_synthetic_mano_is_marked_and_never_resolved_or_imported(synthetic, tmp_path, models_dir):
    assert is_synthetic_mano(synthetic) and not is_synthetic_mano(
        write_synthetic_mano_npz(tmp_path / "m.npz")
    )
    assert load_mano_arrays(synthetic)["v_template"].shape == (778, 3)  # usable where named (--mano)
    with pytest.raises(MANOFileError):  # nothing in the models directory: the synthetic file is not found
        resolve_mano_path()
    assert "SYNTHETIC" in identify(synthetic).description
    with pytest.raises(ValueError, match="SYNTHETIC MANO"):
        import_asset(synthetic)
    with pytest.raises(ValueError, match="SYNTHETIC MANO"):
        run_cli(mano_cli, ["mano", "import", str(synthetic)])
    assert not (models_dir / "mano").exists()


def test_verify_flags_a_synthetic_mano_copied_into_the_models_dir(synthetic, models_dir):
    (models_dir / "mano").mkdir(parents=True)
    (models_dir / "mano" / "MANO_RIGHT.npz").write_bytes(synthetic.read_bytes())
    (report,) = [r for r in verify_assets(models_dir) if r.asset.kind == "MANO"]
    assert report.status == "broken" and any("SYNTHETIC" in p for p in report.problems)


def test_every_name_resolution_is_logged_with_the_file(
    save_student, tiny_student, tmp_path, models_dir, caplog
):
    import_asset(save_student(tmp_path / "a" / "smoke.pt", created="2024-01-01T00:00:00Z"))
    import_asset(save_student(tmp_path / "b" / "real.pt", created="2025-06-01T00:00:00Z"))
    with caplog.at_level(logging.INFO, logger="fast_hamer_core.assets.store"):
        chosen = resolve_checkpoint(tiny_student)
    assert chosen.name == "real.pt"
    (line,) = [r.getMessage() for r in caplog.records if "model name" in r.getMessage()]
    assert f"model name {tiny_student} -> {chosen}" in line and "newest of 2" in line and "smoke.pt" in line
