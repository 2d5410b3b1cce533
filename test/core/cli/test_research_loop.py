"""The README's "research loop in five minutes", command by command, at a smaller size:
synth-data -> train (every strategy) -> export-student -> eval (FreiHAND, HO3D) -> report -> infer."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from fixtures.data import REPO_ROOT
from fixtures.models import one_torch_thread  # noqa: F401  (autouse: one torch thread per test)

from fast_hamer_core.cli import main
from fast_hamer_core.distill.losses import STRATEGIES
from fast_hamer_core.models.checkpoint import load_checkpoint, load_hamer_checkpoint
from fast_hamer_core.synth.models import SYNTHETIC_TEACHER

SMOKE = REPO_ROOT / "training" / "configs" / "smoke.yaml"
MANO = "smoke/MANO_RIGHT_SYNTHETIC.npz"
SMALL = [  # the README's commands with fewer steps / images
    "--set", "optim.max_steps=3", "--set", "optim.batch_size=2", "--set", "run.checkpoint_every_n_steps=2",
    "--set", "run.val_every_n_steps=2", "--set", "run.progress_bar=false",
]  # fmt: skip


def test_research_loop(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAST_HAMER_MODELS", str(tmp_path / "models"))  # nothing lands in the user's models
    sizes = ["--train-images", "6", "--val-images", "2", "--eval-images", "4"]
    assert main(["synth-data", "--out", "smoke", *sizes]) == 0
    assert main(["synth-data", "--out", "smoke", *sizes]) == 2  # never a silent overwrite
    assert "pass --force" in capsys.readouterr().err
    teacher_mean = load_hamer_checkpoint("smoke/hamer_ckpts/checkpoints/hamer.ckpt", SYNTHETIC_TEACHER)

    for s in STRATEGIES:
        argv = ["train", "--config", str(SMOKE), "--set", f"distill.strategy={s}", "--set", f"name=smoke_{s}"]
        assert main([*argv, *SMALL]) == 0
        assert f"done: smoke_{s} trained to step 3; last.ckpt = step=3.ckpt" in capsys.readouterr().out
        ckpts = Path(f"runs/smoke_{s}/checkpoints")
        assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step=2.ckpt", "step=3.ckpt"]
        last = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=True)
        assert last["global_step"] == 3  # the final step, not the last interval's
        logged = (Path(f"runs/smoke_{s}/tensorboard")).glob("events.out.tfevents.*")
        assert next(logged, None) is not None
        assert (
            main(["export-student", str(ckpts / "last.ckpt"), "--out", f"smoke/students/smoke_{s}.pt"]) == 0
        )
        # every strategy, the `none` baseline included, starts from the teacher's mean parameters
        _, student, meta = load_checkpoint(f"smoke/students/smoke_{s}.pt")
        assert meta["global_step"] == 3 and meta["strategy"] == s
        for k in ("mano_head.init_hand_pose", "mano_head.init_betas", "mano_head.init_cam"):
            torch.testing.assert_close(student[k], teacher_mean[k], msg=k)
        ev = ["eval", "--checkpoint", f"smoke/students/smoke_{s}.pt", "--dataset", "freihand"]
        ev += ["--root", "smoke/FreiHAND_pub_v2_eval", "--mano", MANO, "--runs", "2", "--warmup", "1"]
        assert main(ev) == 0
        assert Path(f"results/smoke_{s}_freihand.json").is_file()  # named after the checkpoint
    assert main([*argv, *SMALL]) == 2  # the run folder has checkpoints: --resume, another name or --force
    assert main(ev) == 2  # the result exists: --force
    capsys.readouterr()
    # a trainer checkpoint where a model is expected: told what to run
    bad = ["eval", "--checkpoint", "runs/smoke_none/checkpoints/last.ckpt", "--dataset", "freihand"]
    assert main([*bad, "--root", "smoke/FreiHAND_pub_v2_eval", "--mano", MANO]) == 2
    assert "fast-hamer export-student runs/smoke_none/checkpoints/last.ckpt" in capsys.readouterr().err

    ho3d = ["eval", "--checkpoint", "smoke/students/smoke_hybrid.pt", "--dataset", "ho3d"]
    assert main([*ho3d, "--root", "smoke/HO3D_v2", "--mano", MANO, "--no-speed"]) == 0
    with zipfile.ZipFile("results/smoke_hybrid_ho3d_pred.zip") as zf:
        xyz, verts = json.loads(zf.read("pred.json"))
    assert np.shape(xyz) == (2, 21, 3) and np.shape(verts) == (2, 778, 3)  # 2 sequences x 1

    results = sorted(str(p) for p in Path("results").glob("*.json"))  # the shell's results/*.json
    assert main(["report", *results, "--out", "results/table.md", "--plot", "results/scatter.png"]) == 0
    table = Path("results/table.md").read_text()
    assert all(f"| smoke_{s} |" in table for s in STRATEGIES)
    assert Path("results/scatter.png").stat().st_size > 1000

    box = Path("smoke/images/hand.box").read_text().strip()
    inf = ["infer", "--image", "smoke/images/hand.png", "--checkpoint", "smoke/students/smoke_hybrid.pt"]
    inf += ["--mano", MANO, "--boxes", box, "--out", "results/hand.json", "--render", "results/hand.png"]
    assert main(inf) == 0
    doc = json.loads(Path("results/hand.json").read_text())
    assert doc["mode"] == "mesh" and doc["model"] == "synthetic_student" and len(doc["hands"]) == 1
    assert np.asarray(doc["hands"][0]["vertices"]).shape == (778, 3)
