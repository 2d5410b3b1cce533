"""HaMeR Lightning checkpoints in the real layout, built from HaMeR's architecture (never its weights).

The key names and shapes below are written from HaMeR's own modules (``hamer/models/hamer.py``,
``backbones/vit.py``, ``heads/mano_head.py``, ``components/pose_transformer.py``,
``discriminator.py``, ``mano_wrapper.py`` + smplx ``MANOLayer``), independently of
``fast_hamer_core.models``, so a test comparing them with our modules checks real compatibility.

- :func:`hamer_state_shapes`: ``backbone.*`` + ``mano_head.*`` key -> shape (full ViT-H by default).
- :func:`hamer_extra_shapes`: the other state-dict entries of HaMeR's LightningModule (``mano.*``
  buffers, ``discriminator.*``, ``initialized``) that a loader must drop.
- :func:`write_hamer_checkpoint`: a Lightning ``.ckpt`` (``state_dict``, ``hyper_parameters`` holding
  a yacs ``CfgNode``, loops/optimizer entries) plus ``model_config.yaml`` beside it. The CfgNode is
  pickled under its real name ``yacs.config.CfgNode`` by a stand-in class (yacs is not needed, and
  nothing is put into ``sys.modules``).
"""

from __future__ import annotations

import pickle
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import yaml


def hamer_state_shapes(
    *,
    embed_dim: int = 1280,
    depth: int = 32,
    mlp_ratio: int = 4,
    grid: tuple[int, int] = (16, 12),
    patch_size: int = 16,
    head_dim: int = 1024,
    head_depth: int = 6,
    heads: int = 8,
    dim_head: int = 64,
    mlp_dim: int = 1024,
    npose: int = 96,
) -> dict[str, tuple[int, ...]]:
    """``backbone.*`` and ``mano_head.*`` of HaMeR's state dict: name -> shape."""
    s: dict[str, tuple[int, ...]] = {}
    c = embed_dim
    # ViT(img_size=(256, 192), patch_size=16, embed_dim=1280, depth=32, num_heads=16, mlp_ratio=4,
    #     qkv_bias=True): PatchEmbed.proj conv, pos_embed with num_patches + 1 rows, blocks, last_norm.
    s["backbone.pos_embed"] = (1, grid[0] * grid[1] + 1, c)
    s["backbone.patch_embed.proj.weight"] = (c, 3, patch_size, patch_size)
    s["backbone.patch_embed.proj.bias"] = (c,)
    for i in range(depth):
        p = f"backbone.blocks.{i}."
        s[p + "norm1.weight"] = s[p + "norm1.bias"] = (c,)
        s[p + "attn.qkv.weight"], s[p + "attn.qkv.bias"] = (3 * c, c), (3 * c,)
        s[p + "attn.proj.weight"], s[p + "attn.proj.bias"] = (c, c), (c,)
        s[p + "norm2.weight"] = s[p + "norm2.bias"] = (c,)
        s[p + "mlp.fc1.weight"], s[p + "mlp.fc1.bias"] = (mlp_ratio * c, c), (mlp_ratio * c,)
        s[p + "mlp.fc2.weight"], s[p + "mlp.fc2.bias"] = (c, mlp_ratio * c), (c,)
    s["backbone.last_norm.weight"] = s["backbone.last_norm.bias"] = (c,)
    # MANOTransformerDecoderHead: TransformerDecoder(num_tokens=1, token_dim=1, dim=1024, ...,
    # context_dim=1280) -> to_token_embedding, pos_embedding, dropout (no params), TransformerCrossAttn.
    d, inner = head_dim, heads * dim_head
    t = "mano_head.transformer."
    s[t + "to_token_embedding.weight"], s[t + "to_token_embedding.bias"] = (d, 1), (d,)
    s[t + "pos_embedding"] = (1, 1, d)
    for i in range(head_depth):
        p = f"{t}transformer.layers.{i}."
        for j in range(3):  # PreNorm(norm="layer") around attention, cross-attention, feed-forward
            s[f"{p}{j}.norm.weight"] = s[f"{p}{j}.norm.bias"] = (d,)
        s[p + "0.fn.to_qkv.weight"] = (3 * inner, d)  # bias=False
        s[p + "0.fn.to_out.0.weight"], s[p + "0.fn.to_out.0.bias"] = (d, inner), (d,)
        s[p + "1.fn.to_kv.weight"] = (2 * inner, c)  # context_dim = backbone width, bias=False
        s[p + "1.fn.to_q.weight"] = (inner, d)
        s[p + "1.fn.to_out.0.weight"], s[p + "1.fn.to_out.0.bias"] = (d, inner), (d,)
        s[p + "2.fn.net.0.weight"], s[p + "2.fn.net.0.bias"] = (mlp_dim, d), (mlp_dim,)
        s[p + "2.fn.net.3.weight"], s[p + "2.fn.net.3.bias"] = (d, mlp_dim), (d,)
    s["mano_head.decpose.weight"], s["mano_head.decpose.bias"] = (npose, d), (npose,)
    s["mano_head.decshape.weight"], s["mano_head.decshape.bias"] = (10, d), (10,)
    s["mano_head.deccam.weight"], s["mano_head.deccam.bias"] = (3, d), (3,)
    s["mano_head.init_hand_pose"], s["mano_head.init_betas"], s["mano_head.init_cam"] = (
        (1, npose),
        (1, 10),
        (1, 3),
    )
    return s


def hamer_extra_shapes() -> dict[str, tuple[int, ...]]:
    """State-dict entries of HaMeR's LightningModule outside backbone/head: name -> shape."""
    s: dict[str, tuple[int, ...]] = {"initialized": ()}
    # HaMeR MANO(smplx.MANOLayer) buffers + its joint_map / extra_joints_idxs.
    s.update({
        "mano.faces_tensor": (1538, 3), "mano.v_template": (778, 3), "mano.shapedirs": (778, 3, 10),
        "mano.J_regressor": (16, 778), "mano.posedirs": (135, 2334), "mano.parents": (16,),
        "mano.lbs_weights": (778, 16), "mano.hand_mean": (45,), "mano.extra_joints_idxs": (5,),
        "mano.joint_map": (21,),
    })  # fmt: skip
    # Discriminator (HMR pose + shape prior).
    s["discriminator.D_conv1.weight"], s["discriminator.D_conv1.bias"] = (32, 9, 1, 1), (32,)
    s["discriminator.D_conv2.weight"], s["discriminator.D_conv2.bias"] = (32, 32, 1, 1), (32,)
    for i in range(15):
        s[f"discriminator.pose_out.{i}.weight"], s[f"discriminator.pose_out.{i}.bias"] = (1, 32), (1,)
    s["discriminator.betas_fc1.weight"], s["discriminator.betas_fc1.bias"] = (10, 10), (10,)
    s["discriminator.betas_fc2.weight"], s["discriminator.betas_fc2.bias"] = (5, 10), (5,)
    s["discriminator.betas_out.weight"], s["discriminator.betas_out.bias"] = (1, 5), (1,)
    s["discriminator.D_alljoints_fc1.weight"], s["discriminator.D_alljoints_fc1.bias"] = (1024, 480), (1024,)
    s["discriminator.D_alljoints_fc2.weight"], s["discriminator.D_alljoints_fc2.bias"] = (1024, 1024), (1024,)
    s["discriminator.D_alljoints_out.weight"], s["discriminator.D_alljoints_out.bias"] = (1, 1024), (1,)
    return s


def hamer_model_config(
    *,
    context_dim: int = 1280,
    depth: int = 6,
    heads: int = 8,
    dim_head: int = 64,
    mlp_dim: int = 1024,
    backbone_type: str = "vit",
) -> dict[str, Any]:
    """The parts of HaMeR's ``model_config.yaml`` (experiment hamer_vit_transformer) a loader checks."""
    return {
        "MODEL": {
            "IMAGE_SIZE": 256,
            "IMAGE_MEAN": [0.485, 0.456, 0.406],
            "IMAGE_STD": [0.229, 0.224, 0.225],
            "BACKBONE": {"TYPE": backbone_type, "PRETRAINED_WEIGHTS": "_DATA/vitpose_backbone.pth"},
            "MANO_HEAD": {
                "TYPE": "transformer_decoder",
                "IN_CHANNELS": 2048,
                "TRANSFORMER_DECODER": {
                    "depth": depth, "heads": heads, "mlp_dim": mlp_dim, "dim_head": dim_head, "dropout": 0.0,
                    "emb_dropout": 0.0, "norm": "layer", "context_dim": context_dim,
                },
            },
        },
        "MANO": {"NUM_HAND_JOINTS": 15, "MEAN_PARAMS": "_DATA/data/mano_mean_params.npz"},
        "EXTRA": {"FOCAL_LENGTH": 5000},
    }  # fmt: skip


class YacsCfgNode(dict):
    """Stand-in for yacs' CfgNode: a dict subclass with yacs' instance attributes."""

    pickled_as = ("yacs.config", "CfgNode")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__()
        for k, v in (data or {}).items():
            self[k] = YacsCfgNode(v) if isinstance(v, dict) else v
        self.__dict__.update({"__immutable__": True, "__deprecated_keys__": set(), "__renamed_keys__": {},
                              "__new_allowed__": True})  # fmt: skip


class _NamingPickler(pickle._Pickler):  # pure-Python pickler: its save_global can be overridden
    """Writes stand-in classes under their ``pickled_as`` (module, name)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, type) and hasattr(obj, "pickled_as"):
            module, qualname = obj.pickled_as
            self.write(pickle.GLOBAL + module.encode() + b"\n" + qualname.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch[type] = save_global


NAMING_PICKLE_MODULE = types.ModuleType("hamer_checkpoint_pickle")
NAMING_PICKLE_MODULE.Pickler = _NamingPickler  # type: ignore[attr-defined]


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """Seeded small random float tensors (integer-looking buffers as int64) for ``shapes``."""
    g = torch.Generator().manual_seed(seed)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, shape in shapes.items():
        if k == "initialized":
            out[k] = torch.tensor(True)
        elif k.endswith(("faces_tensor", "parents", "idxs", "joint_map")):
            out[k] = torch.randint(0, 16, shape, generator=g)
        else:
            out[k] = 0.02 * torch.randn(shape, generator=g)
    return out


def write_hamer_checkpoint(
    path: str | Path,
    state_dict: dict[str, torch.Tensor],
    model_config: dict[str, Any] | None = None,
    write_yaml: bool = True,
    extra_hparams: dict[str, Any] | None = None,
) -> Path:
    """Write ``path`` (Lightning layout) and, with ``write_yaml``, ``model_config.yaml`` beside it.

    ``hyper_parameters['cfg']`` is a yacs ``CfgNode`` of ``model_config``; ``extra_hparams`` are added
    to ``hyper_parameters`` as they are (e.g. an object whose unpickling would run code).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model_config = model_config or hamer_model_config()
    checkpoint = {
        "epoch": 3,
        "global_step": 1_000_000,
        "pytorch-lightning_version": "2.0.1",
        "state_dict": OrderedDict(state_dict),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': None}": {"best_model_score": None, "dirpath": "checkpoints"}
        },
        "optimizer_states": [],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {"cfg": YacsCfgNode(model_config), **(extra_hparams or {})},
    }
    torch.save(checkpoint, path, pickle_module=NAMING_PICKLE_MODULE)
    if write_yaml:
        (path.parent / "model_config.yaml").write_text(yaml.safe_dump(model_config))
    return path
