"""Our checkpoint format, HaMeR Lightning checkpoints, and load_model."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from fixtures.hamer_checkpoint import (
    hamer_extra_shapes,
    hamer_model_config,
    hamer_state_shapes,
    random_state,
    write_hamer_checkpoint,
)
from fixtures.models import one_torch_thread  # noqa: F401  (autouse: one torch thread per test)

import fast_hamer_core
from fast_hamer_core.mano import MANO21
from fast_hamer_core.models import (
    CheckpointError,
    HeadConfig,
    ModelConfig,
    ViTConfig,
    create_model,
    load_checkpoint,
    load_hamer_checkpoint,
    load_model,
    register_model,
    save_checkpoint,
    unregister_model,
)

# A reduced HaMeR teacher (registered only here): same module names, tiny widths and depths.
SMALL_TEACHER = ModelConfig(
    name="test_small_hamer", backbone="vit", input_size=(256, 192), crop_columns=32, context_dim=32,
    feature_size=(16, 12), vit=ViTConfig(embed_dim=32, depth=2, num_heads=4),
    head=HeadConfig(dim=32, depth=2, heads=2, dim_head=8, mlp_dim=48),
)  # fmt: skip
SMALL_SHAPES = dict(embed_dim=32, depth=2, head_dim=32, head_depth=2, heads=2, dim_head=8, mlp_dim=48)
SMALL_YAML = dict(context_dim=32, depth=2, heads=2, dim_head=8, mlp_dim=48)


@pytest.fixture
def small_teacher():
    register_model(SMALL_TEACHER)
    yield SMALL_TEACHER.name
    unregister_model(SMALL_TEACHER.name)


@pytest.fixture(scope="module")
def student_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model("mobilenetv3_large").eval()
    path = tmp_path_factory.mktemp("ckpt") / "mobilenetv3_large.pt"
    save_checkpoint(
        path, model, metadata={"step": 1200, "dataset": "freihand", "pa_mpjpe_mm": 7.5, "kd": True}
    )
    return path, model


def test_round_trip_is_bit_exact(student_ckpt) -> None:
    path, model = student_ckpt
    config, state, metadata = load_checkpoint(path)
    assert config == model.config
    assert metadata == {"step": 1200, "dataset": "freihand", "pa_mpjpe_mm": 7.5, "kd": True}
    original = model.state_dict()
    assert set(state) == set(original)
    for k, v in state.items():
        assert v.dtype == original[k].dtype and torch.equal(v, original[k]), k


def test_file_is_plain_data_and_weights_only_loadable(student_ckpt) -> None:
    raw = torch.load(student_ckpt[0], weights_only=True)
    assert raw["format"] == "fast_hamer" and raw["version"] == 1 and raw["model_name"] == "mobilenetv3_large"
    assert isinstance(raw["config"], dict) and isinstance(raw["config"]["head"], dict)
    assert not any(k.startswith("mano.") for k in raw["state_dict"])


def test_load_model_reproduces_outputs(student_ckpt, synthetic_mano_npz: Path) -> None:
    path, model = student_ckpt
    loaded = load_model(path, mano_path=synthetic_mano_npz)
    assert not loaded.training and isinstance(loaded.mano, MANO21)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a["pred_cam"], b["pred_cam"]) and torch.equal(a["features"], b["features"])
    assert b["pred_vertices"].shape == (1, 778, 3)


def test_checkpoint_excludes_mano_buffers(tmp_path: Path, synthetic_mano_npz: Path) -> None:
    model = create_model("mobilevit_s", mano=synthetic_mano_npz)
    _, state, _ = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model))
    assert state and all(k.startswith(("backbone.", "mano_head.")) for k in state)


def test_package_level_lazy_load_model(student_ckpt) -> None:
    assert fast_hamer_core.load_model is load_model
    assert fast_hamer_core.load_model(student_ckpt[0]).config.name == "mobilenetv3_large"


def test_bad_metadata_is_refused(tmp_path: Path) -> None:
    model = create_model("mobilenetv3_large")
    with pytest.raises(ValueError, match="metadata must map str to str/int/float/bool"):
        save_checkpoint(tmp_path / "x.pt", model, metadata={"cfg": {"nested": 1}})
    assert not (tmp_path / "x.pt").exists()


def test_truncated_file_fails_clearly(student_ckpt, tmp_path: Path) -> None:
    data = student_ckpt[0].read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    for fn in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match=r"truncated\.pt is truncated or not a PyTorch checkpoint"):
            fn(bad)


def test_corrupt_member_fails_clearly(student_ckpt, tmp_path: Path) -> None:
    """A complete zip whose tensor data is damaged (CRC error) is reported with the file's name."""
    bad = tmp_path / "corrupt.pt"
    with zipfile.ZipFile(student_ckpt[0]) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = data[: len(data) // 2]
            dst.writestr(info, data)
    with pytest.raises(CheckpointError, match=r"corrupt\.pt"):
        load_model(bad)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.pt is truncated or not a PyTorch checkpoint"):
        load_model(text)
    other = tmp_path / "list.pt"
    torch.save([1, 2, 3], other)
    with pytest.raises(CheckpointError, match=r"list\.pt is not a fast_hamer checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match=r"list\.pt is not a checkpoint: it holds a list"):
        load_model(other)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_model(tmp_path / "missing.pt")


def test_student_loaded_as_another_names_keys(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "resnet50.pt", create_model("resnet50"))
    with pytest.raises(CheckpointError) as err:
        load_model(path, model_name="mobilenetv3_large")
    msg = str(err.value)
    assert "resnet50.pt does not fit model 'mobilenetv3_large'" in msg
    assert "missing keys: ['backbone.model.blocks." in msg or "missing keys: ['backbone.model.bn1" in msg
    assert "unexpected keys: ['backbone.model.bn1" in msg or "unexpected keys: ['backbone.model.conv1" in msg
    assert "wrong-shaped keys: ['backbone.model." in msg
    # The head's cross-attention sees the backbone width: 2048 channels vs 960.
    assert "'mano_head.transformer.transformer.layers.0.1.fn.to_kv.weight: checkpoint (1024, 2048) vs " \
           "model (1024, 960)'" in msg  # fmt: skip


def test_same_backbone_family_other_width_names_shapes(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "convnext_tiny.pt", create_model("convnext_tiny"))
    with pytest.raises(CheckpointError, match=r"\d+ wrong-shaped keys: \['backbone\.model\..*checkpoint \("):
        load_model(path, model_name="convnext_base")


# ---- HaMeR Lightning checkpoints ------------------------------------------------------------------


def _write_small_hamer(tmp_path: Path, **kwargs) -> tuple[Path, dict[str, torch.Tensor]]:
    shapes = hamer_state_shapes(**SMALL_SHAPES)
    state = random_state({**shapes, **hamer_extra_shapes()}, seed=3)
    kwargs.setdefault("model_config", hamer_model_config(**SMALL_YAML))
    path = write_hamer_checkpoint(tmp_path / "hamer_ckpts" / "checkpoints" / "hamer.ckpt", state, **kwargs)
    return path, {k: state[k] for k in shapes}


class _RunsCode:
    """Unpickling this would run a shell command; a safe loader must never call it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hamer_lightning_checkpoint_loads_exactly(tmp_path: Path, small_teacher: str) -> None:
    marker = tmp_path / "code_ran"
    path, expected = _write_small_hamer(tmp_path, extra_hparams={"hook": _RunsCode(marker)})
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)  # the yacs CfgNode needs the restricted fallback
    model = load_model(path, model_name=small_teacher)
    assert not marker.exists() and "yacs" not in sys.modules
    assert model.config.name == small_teacher and not model.training
    state = model.state_dict()
    assert set(state) == set(expected)  # no missing / unexpected backbone or head keys
    for k, v in expected.items():
        assert torch.equal(state[k], v), k
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 256))
    assert out["features"].shape == (1, 32, 16, 12)


def test_load_hamer_checkpoint_drops_mano_and_discriminator(tmp_path: Path, small_teacher: str) -> None:
    path, expected = _write_small_hamer(tmp_path)
    state = load_hamer_checkpoint(path, SMALL_TEACHER)
    assert set(state) == set(expected)
    assert not any(k.startswith(("mano.", "discriminator.")) or k == "initialized" for k in state)


def test_unexpected_hamer_keys_are_reported(tmp_path: Path) -> None:
    shapes = hamer_state_shapes(**SMALL_SHAPES)
    state = random_state({**shapes, "renderer.weight": (2,), **hamer_extra_shapes()})
    path = write_hamer_checkpoint(
        tmp_path / "hamer.ckpt", state, model_config=hamer_model_config(**SMALL_YAML)
    )
    with pytest.warns(UserWarning, match=r"dropped 1 unexpected keys .*'renderer.weight'"):
        out = load_hamer_checkpoint(path, SMALL_TEACHER)
    assert set(out) == set(shapes)


def test_hamer_config_from_hyper_parameters_when_no_yaml(tmp_path: Path) -> None:
    path, _ = _write_small_hamer(
        tmp_path, write_yaml=False, model_config=hamer_model_config(backbone_type="resnet")
    )
    assert not (path.parent / "model_config.yaml").exists()
    with pytest.raises(CheckpointError, match=r"hyper_parameters is not a HaMeR ViT config.*TYPE='resnet'"):
        load_hamer_checkpoint(path, SMALL_TEACHER)


def test_hamer_yaml_must_describe_the_vit_model(tmp_path: Path) -> None:
    """Both configs are checked: a right pickled one does not hide a wrong model_config.yaml."""
    path, _ = _write_small_hamer(tmp_path)
    wrong = hamer_model_config(**{**SMALL_YAML, "depth": 4})
    (path.parent / "model_config.yaml").write_text(yaml.safe_dump(wrong))
    with pytest.raises(
        CheckpointError, match=r"model_config.yaml is not a HaMeR ViT config.*depth=4 \(expected 2\)"
    ):
        load_hamer_checkpoint(path, SMALL_TEACHER)


def test_full_size_hamer_config_defaults_to_vith(tmp_path: Path) -> None:
    """Without a model_name, a HaMeR .ckpt is checked against hamer_vith (here: its yaml is the real one)."""
    path, _ = _write_small_hamer(tmp_path, model_config=hamer_model_config())
    with pytest.raises(
        CheckpointError, match=r"does not fit model 'hamer_vith': \d+ missing keys.* \d+ wrong-shaped keys"
    ):
        load_model(path)


def test_formats_are_not_confused(tmp_path: Path, student_ckpt, small_teacher: str) -> None:
    path, _ = _write_small_hamer(tmp_path)
    with pytest.raises(
        CheckpointError, match=r"not a fast_hamer checkpoint.*yacs\.config\.CfgNode is not allowed"
    ):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is a fast_hamer checkpoint, not a HaMeR"):
        load_hamer_checkpoint(student_ckpt[0])


def test_restricted_unpickler_refuses_to_patch_classes() -> None:
    """BUILD on an allowlisted class is refused: plain pickle would run ``Counter.most_common = None``."""
    import io
    import pickle
    from collections import Counter

    from fast_hamer_core.models.checkpoint import _restricted_pickle_module

    # GLOBAL collections.Counter; state (None, {'most_common': None}); BUILD -> setattr on the class.
    raw = b"\x80\x02ccollections\nCounter\nN}X\x0b\x00\x00\x00most_commonNs\x86b."
    with pytest.raises(pickle.UnpicklingError, match="refusing to set the state of a type object"):
        _restricted_pickle_module(set()).load(io.BytesIO(raw))
    assert callable(Counter.most_common)
