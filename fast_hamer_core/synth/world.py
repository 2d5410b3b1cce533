"""``fast-hamer synth-data``: a small synthetic world in the real formats, for trying the research loop.

Everything is random but valid and written in the layout the real data has, so that ``train``,
``distill-cache``, ``eval``, ``report`` and ``infer`` run on it unchanged (on a CPU, in seconds):

``<out>/``
  ``MANO_RIGHT_SYNTHETIC.npz``     synthetic MANO (marked; never the licensed model, never resolved
                                   from the models directory: pass it with ``--mano`` / ``mano:``)
  ``mano_mean_params.npz``         HaMeR's mean-parameter file layout (the teacher's head buffers)
  ``hamer_training_data/``         ``dataset_tars/synthetic-{train,val}/NNNNNN.tar`` + ``freihand_mocap.npz``
  ``hamer_ckpts/``                 a small random teacher (``synthetic_teacher``) as HaMeR's Lightning run:
                                   ``model_config.yaml`` + ``checkpoints/hamer.ckpt``
  ``FreiHAND_pub_v2_eval/``        FreiHAND v2 evaluation layout
  ``HO3D_v2/``                     HO3D-v2 evaluation layout (ground truth withheld, as in the real set)
  ``images/hand.png`` + ``hand.box``  one photo-sized image and its hand box for ``infer --boxes``
  ``SYNTHETIC.txt``                what this folder is

Scores on this world say nothing about accuracy: the MANO mesh is a random blob and the teacher is random.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from fast_hamer_core.distill.cache import write_mean_params
from fast_hamer_core.synth.datasets import (
    write_freihand_eval,
    write_ho3d_eval,
    write_mocap,
    write_synthetic_shards,
)
from fast_hamer_core.synth.hamer_checkpoint import (
    hamer_extra_shapes,
    hamer_model_config,
    random_state,
    write_hamer_checkpoint,
)
from fast_hamer_core.synth.mano import SYNTHETIC_MANO_NAME, write_synthetic_mano_npz
from fast_hamer_core.synth.models import SYNTHETIC_TEACHER
from fast_hamer_core.synth.render import render_hands, synthetic_mano_layer

log = logging.getLogger(__name__)

MARKER_NAME = "SYNTHETIC.txt"
TRAIN_SOURCE = "synthetic-train"
VAL_SOURCE = "synthetic-val"


@dataclasses.dataclass(frozen=True)
class WorldSizes:
    """How much to write: training / validation images (one hand each, every third a left hand, every
    fifth a two-hand image), FreiHAND images, HO3D images per sequence (2 sequences)."""

    train_images: int = 48
    val_images: int = 8
    freihand_images: int = 16
    ho3d_per_sequence: int = 4
    images_per_shard: int = 8


def _sides(n: int) -> tuple[tuple[str, ...], ...]:
    return tuple(
        ("right", "left") if i % 5 == 3 else (("left",) if i % 3 == 1 else ("right",)) for i in range(n)
    )


def make_synthetic_teacher(seed: int = 0):
    """A random ``synthetic_teacher`` (HandMeshModel, no MANO) whose head regresses away from its mean
    parameters (random output layers) and whose mean parameters are not the identity pose, like HaMeR's,
    so that distillation and the choice of the student's initial mean parameters both matter."""
    from fast_hamer_core.models.registry import create_model

    torch.manual_seed(seed)
    teacher = create_model(SYNTHETIC_TEACHER)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head = teacher.mano_head
        head.decpose.weight.normal_(0, 0.2, generator=g)
        head.decshape.weight.normal_(0, 0.2, generator=g)
        head.init_hand_pose.add_(0.1 * torch.randn(head.init_hand_pose.shape, generator=g))
        head.init_betas.copy_(0.3 * torch.randn(head.init_betas.shape, generator=g))
    return teacher.eval()


def write_synthetic_teacher(run_dir: str | Path, teacher=None, seed: int = 0) -> Path:
    """``teacher`` (default :func:`make_synthetic_teacher`) as HaMeR's run folder: ``model_config.yaml`` +
    ``checkpoints/hamer.ckpt`` in HaMeR's Lightning layout (``mano.*`` / ``discriminator.*`` entries
    included) -> the .ckpt path. Train with ``teacher.model: synthetic_teacher``."""
    from fast_hamer_core.models.checkpoint import model_state_dict

    run_dir = Path(run_dir)
    teacher = make_synthetic_teacher(seed) if teacher is None else teacher
    state = {**random_state(hamer_extra_shapes(), seed), **model_state_dict(teacher)}
    h = SYNTHETIC_TEACHER.head
    config = hamer_model_config(
        context_dim=SYNTHETIC_TEACHER.context_dim, depth=h.depth, heads=h.heads, dim_head=h.dim_head,
        mlp_dim=h.mlp_dim,
    )  # fmt: skip
    config["MODEL"]["MANO_HEAD"]["TRANSFORMER_DECODER"]["dim"] = h.dim
    ckpt = write_hamer_checkpoint(run_dir / "checkpoints" / "hamer.ckpt", state, config, write_yaml=False)
    (run_dir / "model_config.yaml").write_text(yaml.safe_dump(config))
    return ckpt


def write_infer_image(folder: str | Path, seed: int = 3) -> tuple[Path, Path]:
    """``hand.png`` (640x480, one right hand) and ``hand.box`` (``x0,y0,x1,y1:right`` px, the box
    ``infer --boxes`` takes) -> their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image, (hand,) = render_hands(
        synthetic_mano_layer(), np.random.default_rng(seed), ("right",), (640, 480), focal_px=1200.0
    )
    uv = hand.annotation["keypoints_2d"][:, :2]
    lo, hi = uv.min(0) - 10, uv.max(0) + 10
    png = folder / "hand.png"
    cv2.imwrite(str(png), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    box = folder / "hand.box"
    box.write_text(f"{lo[0]:.0f},{lo[1]:.0f},{hi[0]:.0f},{hi[1]:.0f}:right\n")
    return png, box


def write_synthetic_world(out: str | Path, sizes: WorldSizes = WorldSizes(), force: bool = False) -> dict:
    """Write the synthetic world into ``out`` (see the module docstring) -> {what: path}.

    FileExistsError when ``out`` already holds files and ``force`` is False (a folder written by this
    function is replaced with ``force``; any other non-empty folder is never touched)."""
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER_NAME).is_file():
            raise FileExistsError(f"{out} is not empty and was not written by `fast-hamer synth-data`")
        if not force:
            raise FileExistsError(f"{out} already holds a synthetic world; pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER_NAME).write_text(
        "Synthetic data written by `fast-hamer synth-data`: random MANO, random teacher, rendered blobs.\n"
        "For trying the tools only; scores on it say nothing about accuracy. Not the licensed MANO model.\n"
    )
    paths: dict[str, Path] = {"root": out}
    paths["mano"] = write_synthetic_mano_npz(out / SYNTHETIC_MANO_NAME, marker=True)
    data = out / "hamer_training_data"
    for name, n, seed in ((TRAIN_SOURCE, sizes.train_images, 0), (VAL_SOURCE, sizes.val_images, 7)):
        shards, _ = write_synthetic_shards(
            data / "dataset_tars" / name, _sides(n), per_shard=sizes.images_per_shard, seed=seed
        )
        log.info("wrote %d %s shard(s) (%d images)", len(shards), name, n)
    paths["training_data"] = data
    paths["mocap"] = write_mocap(data / "freihand_mocap.npz")
    teacher = make_synthetic_teacher()
    paths["teacher"] = write_synthetic_teacher(out / "hamer_ckpts", teacher)
    paths["mean_params"] = write_mean_params(out / "mano_mean_params.npz", teacher.mano_head)
    paths["freihand"] = out / "FreiHAND_pub_v2_eval"
    write_freihand_eval(paths["freihand"], num=sizes.freihand_images)
    paths["ho3d"] = out / "HO3D_v2"
    write_ho3d_eval(paths["ho3d"], per_seq=sizes.ho3d_per_sequence)
    paths["image"], paths["box"] = write_infer_image(out / "images")
    return paths
