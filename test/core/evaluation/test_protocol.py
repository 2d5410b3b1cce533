"""``fast-hamer eval`` / ``report`` on FreiHAND and HO3D-v2 sets in their published layouts (synthetic)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from fixtures.cli import run_cli
from fixtures.mano import write_synthetic_mano_npz
from fixtures.models import save_tiny_checkpoint, tiny_convnext_config
from fixtures.shards import write_freihand_eval, write_ho3d_eval
from torch import nn

from fast_hamer_core.cli import eval as cli_eval
from fast_hamer_core.cli import report as cli_report
from fast_hamer_core.evaluation.benchmark import count_gflops, count_parameters, measure_latency
from fast_hamer_core.evaluation.datasets import HO3D_JOINT_ORDER, FreiHANDEval, HO3DEval, open_eval_set
from fast_hamer_core.evaluation.metrics import MeshEvaluator
from fast_hamer_core.evaluation.protocol import Predictions, score
from fast_hamer_core.evaluation.report import load_results, markdown_table
from fast_hamer_core.models.checkpoint import load_model
from fast_hamer_core.preprocess import crop_hands, normalize_crops

TINY = tiny_convnext_config("tiny_eval")


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    ckpt = save_tiny_checkpoint(root / "tiny.pt", TINY)
    mano = write_synthetic_mano_npz(root / "MANO_RIGHT.npz")
    write_freihand_eval(root / "freihand", num=4)
    write_ho3d_eval(root / "ho3d")
    return {"root": root, "ckpt": ckpt, "mano": mano}


def _direct(assets, sample) -> tuple[np.ndarray, np.ndarray]:
    """The model's root-relative joints/vertices for one sample, computed here independently."""
    model = load_model(assets["ckpt"], mano_path=assets["mano"])
    crops, _ = crop_hands(sample.image, sample.box_xyxy[None], np.array([True]))
    with torch.no_grad():
        out = model(normalize_crops(crops))
    j, v = out["pred_keypoints_3d"][0].numpy(), out["pred_vertices"][0].numpy()
    return j - j[:1], v - j[:1]


def test_eval_freihand(assets, tmp_path, capsys):
    out = tmp_path / "res.json"
    argv = [
        "eval",
        "--checkpoint",
        str(assets["ckpt"]),
        "--dataset",
        "freihand",
        "--root",
        str(assets["root"] / "freihand"),
        "--mano",
        str(assets["mano"]),
        "--device",
        "cpu",
        "--out",
        str(out),
        "--runs",
        "3",
        "--warmup",
        "1",
        "--batch-size",
        "3",
    ]
    assert run_cli(cli_eval, argv) == 0
    assert "PA-MPJPE" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["model"] == "tiny_eval" and result["dataset"] == "freihand" and result["num_samples"] == 4
    m = result["metrics"]
    assert 0 < m["pa_mpjpe_mm"] < 100 and 0 <= m["f@5mm"] <= m["f@15mm"] <= 1 and 0 <= m["auc_joints"] <= 1
    speed = result["speed"]
    assert speed["params"] == count_parameters(load_model(assets["ckpt"]))
    assert speed["gflops"] > 0 and set(speed["latency"]) == {"batch_1", "batch_4"}
    assert speed["latency"]["batch_4"]["fps"] > 0 and speed["latency"]["batch_1"]["runs"] == 3
    # the prediction file: a zip holding pred.json, the servers' [xyz, verts] pair, which re-scores to the
    # same metrics
    with zipfile.ZipFile(tmp_path / "res_pred.zip") as zf:
        assert zf.namelist() == ["pred.json"]
        xyz, verts = json.loads(zf.read("pred.json"))
    assert np.shape(xyz) == (4, 21, 3) and np.shape(verts) == (4, 778, 3)
    ds = FreiHANDEval(assets["root"] / "freihand")
    ev = MeshEvaluator()
    ev.add(np.array(xyz), ds.xyz, np.array(verts), ds.verts)
    assert ev.summary()["pa_mpjpe_mm"] == pytest.approx(m["pa_mpjpe_mm"], abs=1e-3)
    j, v = _direct(assets, ds[2])
    np.testing.assert_allclose(xyz[2], j, atol=1e-5)
    np.testing.assert_allclose(verts[2], v, atol=1e-5)
    # the ground truth scores perfectly against itself (ids, order and frames line up)
    perfect = score(ds, Predictions([f"{i:08d}" for i in range(4)], ds.xyz * 1.3 + 0.1, ds.verts * 1.3 + 0.1))
    assert perfect["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-6) and perfect["f@5mm"] == pytest.approx(1)


def test_eval_ho3d_writes_server_json(assets, tmp_path, capsys):
    root = assets["root"] / "ho3d"
    out = tmp_path / "ho3d.json"
    argv = [
        "eval",
        "--checkpoint",
        str(assets["ckpt"]),
        "--dataset",
        "ho3d",
        "--root",
        str(root),
        "--mano",
        str(assets["mano"]),
        "--device",
        "cpu",
        "--out",
        str(out),
        "--no-speed",
    ]
    assert run_cli(cli_eval, argv) == 0
    assert f"upload {tmp_path / 'ho3d_pred.zip'}" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["metrics"] is None and result["num_samples"] == 4 and "speed" not in result
    with zipfile.ZipFile(tmp_path / "ho3d_pred.zip") as zf:  # the upload HO3D's server takes, as it is
        xyz, verts = json.loads(zf.read("pred.json"))
    ds = HO3DEval(root)
    j, v = _direct(assets, ds[1])
    opengl = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(xyz[1], (j @ opengl)[list(HO3D_JOINT_ORDER)], atol=1e-5)
    np.testing.assert_allclose(verts[1], v @ opengl, atol=1e-5)
    # with a ground-truth pair beside evaluation.txt the metrics are computed locally
    (root / "evaluation_xyz.json").write_text(json.dumps(xyz))
    (root / "evaluation_verts.json").write_text(json.dumps(verts))
    with pytest.raises(ValueError, match=r"already exist.*--force"):  # never a silent overwrite
        run_cli(cli_eval, argv)
    assert run_cli(cli_eval, [*argv, "--force"]) == 0
    assert json.loads(out.read_text())["metrics"]["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("freihand", r"FreiHAND.*evaluation_K\.json"), ("ho3d", r"HO3D-v2.*evaluation\.txt.*meta/<id>\.pkl")],
)
def test_missing_dataset_names_it_and_its_layout(tmp_path, name, expected):
    with pytest.raises(FileNotFoundError, match=expected):
        open_eval_set(name, tmp_path / "nowhere")


def test_gflops_and_latency_of_a_known_layer():
    conv = nn.Conv2d(3, 8, kernel_size=1)  # 3 * 8 multiply-adds per pixel of the 256x256 input
    assert count_gflops(conv) == pytest.approx(2 * 3 * 8 * 256 * 256 / 1e9)
    assert count_parameters(conv) == 3 * 8 + 8
    lat = measure_latency(conv, batch_size=2, warmup=1, runs=5)
    assert lat["median_ms"] > 0 and lat["p90_ms"] >= lat["median_ms"]
    assert lat["fps"] == pytest.approx(2 / (lat["median_ms"] / 1e3))


def test_report_table_and_plot(tmp_path):
    def result(label, dataset, err, fps, params):
        speed = {
            "device": "CPU test",
            "params": params,
            "gflops": 1.5,
            "latency": {"batch_1": {"fps": fps}, "batch_4": {"fps": 3 * fps}},
        }
        metrics = {
            "pa_mpjpe_mm": err,
            "pa_mpvpe_mm": err - 0.3,
            "f@5mm": 0.7,
            "f@15mm": 0.98,
            "auc_joints": 0.8,
        }
        return {"model": label, "label": label, "dataset": dataset, "metrics": metrics, "speed": speed}

    files = []
    for i, r in enumerate(
        [
            result("hamer", "freihand", 6.0, 3.0, 671e6),
            result("mnv3", "freihand", 8.1, 40.0, 7e6),
            result("mnv3", "ho3d", 9.2, 40.0, 7e6),
        ]
    ):
        files.append(tmp_path / f"r{i}.json")
        files[-1].write_text(json.dumps(r))
    table = markdown_table(load_results(files))
    lines = table.splitlines()
    assert "freihand PA-MPJPE" in lines[0] and "ho3d PA-MPJPE" in lines[0]
    assert lines[2].startswith("| hamer | 671.0 | 1.5 | 3.0 | 9.0 | 6.00 | 5.70 |")
    assert lines[3].startswith("| mnv3 | 7.0 |") and "| 9.20 |" in lines[3]
    assert "CPU test" in table
    png = tmp_path / "scatter.png"
    assert (
        run_cli(cli_report, ["report", *map(str, files), "--out", str(tmp_path / "t.md"), "--plot", str(png)])
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert (tmp_path / "t.md").read_text() == table
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a `fast-hamer eval` result"):
        load_results([bad])
    # a results folder, or the shell's results/*.json: prediction files in it are skipped, not errors
    (tmp_path / "old_pred.json").write_text(json.dumps([[[[0.0] * 3] * 21], [[[0.0] * 3] * 778]]))
    assert len(load_results([tmp_path / "r0.json", tmp_path / "old_pred.json"])) == 1
    bad.unlink()
    assert len(load_results([tmp_path])) == 3  # the folder: its *.json
    # the same label twice on one dataset is refused (two students of one architecture would merge)
    (tmp_path / "r3.json").write_text(json.dumps(result("mnv3", "freihand", 7.0, 41.0, 7e6)))
    with pytest.raises(ValueError, match=r"two results for .mnv3. on freihand.*--label"):
        markdown_table(load_results([tmp_path]))
    # existing outputs are kept unless --force
    with pytest.raises(ValueError, match=r"already exist.*--force"):
        run_cli(cli_report, ["report", str(files[0]), "--out", str(tmp_path / "t.md")])
