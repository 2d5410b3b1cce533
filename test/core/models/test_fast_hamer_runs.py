"""Fast-HaMeR's students: the fh_* backbones have its module layout, and its run folders load.

Backbones and state dicts come from torchvision / timm directly (``fixtures.fast_hamer_run``, written
from Fast-HaMeR's ``create_backbone``), never from our modules, so equal keys and outputs mean real
compatibility. Forward checks use the small architectures; the big ones are compared on the meta device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from fixtures.fast_hamer_run import (
    UPSTREAM,
    fast_hamer_model_config,
    kd_extras,
    pickled_globals,
    student_state,
    upstream_backbone,
    write_fast_hamer_run,
)
from fixtures.models import one_torch_thread  # noqa: F401  (autouse: one torch thread per test)

from fast_hamer_core.models import CheckpointError, create_model, get_config, load_model
from fast_hamer_core.models.checkpoint import read_checkpoint
from fast_hamer_core.models.lightning import FAST_HAMER_BACKBONES, find_run_checkpoint

#: (TYPE, SIZE) -> our registry name.
NAMES = {
    ("mobilenet_v3", "large"): "fh_mobilenet_v3_large",
    ("mobilevit", "small"): "fh_mobilevit_s",
    ("resnet", 50): "fh_resnet50",
    ("resnet", 101): "fh_resnet101",
    ("wide_resnet", 50): "fh_wide_resnet50_2",
    ("wide_resnet", 101): "fh_wide_resnet101_2",
    ("convnext", "large"): "fh_convnext_large",
    ("efficientnet_v2", "medium"): "fh_efficientnet_v2_m",
    ("efficientnet_v2", "large"): "fh_efficientnet_v2_l",
}


@pytest.fixture(scope="module")
def mobilenet() -> torch.nn.Module:
    torch.manual_seed(0)
    return upstream_backbone("mobilenet_v3", "large").eval()


@pytest.fixture(scope="module")
def mobilenet_run(tmp_path_factory, mobilenet) -> tuple[Path, dict[str, torch.Tensor]]:
    """A KD ('full') run of the MobileNetV3 student: teacher.*, channel_projection.*, mano.* present."""
    state = student_state(mobilenet, 960)
    state.update(kd_extras(960))
    run = tmp_path_factory.mktemp("runs") / "mobilenet_large_kd_full"
    write_fast_hamer_run(run, state, fast_hamer_model_config("mobilenet_v3", "large"))
    return run, state


@pytest.mark.parametrize("upstream", sorted(NAMES, key=str))
def test_backbone_layout_matches_fast_hamer_on_meta(upstream: tuple[str, object]) -> None:
    """Every fh_* backbone has exactly the parameter names and shapes of Fast-HaMeR's, and the same
    output map shape on a 256x256 crop (built on the meta device: no memory, no time)."""
    with torch.device("meta"):
        theirs = upstream_backbone(*upstream)
        ours = create_model(NAMES[upstream]).backbone
        x = torch.zeros(1, 3, 256, 256)
        out_theirs, out_ours = theirs(x), ours(x)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    config = get_config(NAMES[upstream])
    assert out_ours.shape == out_theirs.shape == (1, config.context_dim, *config.feature_size)
    assert ours.out_channels == UPSTREAM[upstream][2]


def test_every_upstream_backbone_has_a_registry_name() -> None:
    assert set(FAST_HAMER_BACKBONES.values()) == {*NAMES.values(), "hamer_vith"}


def test_kd_run_folder_loads_with_the_same_backbone_outputs(mobilenet_run, mobilenet) -> None:
    run, written = mobilenet_run
    ckpt = run / "checkpoints" / "last.ckpt"
    assert b"omegaconf.dictconfig\nDictConfig" in pickled_globals(ckpt)  # the real pickled class
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(ckpt, weights_only=True)
    model = load_model(run)
    assert "omegaconf" not in sys.modules and "yacs" not in sys.modules
    assert model.config == get_config("fh_mobilenet_v3_large") and not model.training
    state = model.state_dict()
    assert set(state) == {k for k in written if k.startswith(("backbone.", "mano_head."))}
    for k, v in state.items():
        assert torch.equal(v, written[k]), k
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out["features"], mobilenet(x), rtol=0, atol=0)
    assert out["features"].shape == (2, 960, 8, 8) and out["pred_cam"].shape == (2, 3)


def test_provenance_of_a_run(mobilenet_run) -> None:
    config, state, meta = read_checkpoint(
        mobilenet_run[0] / "checkpoints"
    )  # the checkpoints folder works too
    assert config.name == "fh_mobilenet_v3_large"
    assert meta["source"].endswith("checkpoints/last.ckpt") and meta["step"] == 12_000
    assert (meta["backbone_type"], meta["source_format"]) == ("mobilenet_v3 large", "fast_hamer_lightning")
    assert not any(k.startswith(("teacher.", "channel_projection.", "mano.")) for k in state)


def test_resnet_with_yacs_config_and_no_yaml(tmp_path: Path) -> None:
    """hyper_parameters as a yacs CfgNode, no model_config.yaml; backbone checked at a small input."""
    torch.manual_seed(1)
    resnet = upstream_backbone("resnet", 50).eval()
    state = student_state(resnet, 2048)
    run = tmp_path / "resnet_50"
    ckpt = write_fast_hamer_run(
        run, state, fast_hamer_model_config("resnet", 50), hparams="yacs", write_yaml=False
    )
    model = load_model(ckpt)
    assert model.config.name == "fh_resnet50"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x), resnet(x), rtol=0, atol=0)


def test_config_from_yaml_one_level_above_checkpoints(tmp_path: Path, mobilenet) -> None:
    """No pickled cfg: model_config.yaml one level above checkpoints/ (the head's mlp_dim 512 of the
    mobilenet_v3_l_mh_512 experiment comes from it), the newest step=N checkpoint is picked."""
    state = student_state(mobilenet, 960, mlp_dim=512)
    cfg = fast_hamer_model_config("mobilenet_v3", "large", mlp_dim=512)
    write_fast_hamer_run(tmp_path / "run", state, cfg, ckpt_name="epoch=0-step=1000.ckpt", hparams="none")
    newest = write_fast_hamer_run(
        tmp_path / "run", state, cfg, ckpt_name="epoch=1-step=3000.ckpt", hparams="none", step=3000
    )
    assert find_run_checkpoint(tmp_path / "run") == newest
    config, _, meta = read_checkpoint(tmp_path / "run")
    assert config.head.mlp_dim == 512 and config.name == "fh_mobilenet_v3_large"
    assert meta["config_source"].endswith("run/model_config.yaml") and meta["step"] == 3000


def test_config_that_contradicts_the_weights_names_both(tmp_path: Path, mobilenet) -> None:
    state = student_state(mobilenet, 960)
    ckpt = write_fast_hamer_run(
        tmp_path / "r1", state, fast_hamer_model_config("resnet", 50, context_dim=2048)
    )
    with pytest.raises(
        CheckpointError,
        match=r"TYPE='resnet' SIZE='50'\) says fh_resnet50, but its backbone weights contradict it "
        r"\(they fit fh_mobilenet_v3_large\)",
    ):
        load_model(ckpt)
    # FEATURE_DIM against context_dim, and context_dim against the head's weights
    cfg = fast_hamer_model_config("mobilenet_v3", "large", feature_dim=1280)
    ckpt = write_fast_hamer_run(tmp_path / "r2", state, cfg)
    with pytest.raises(
        CheckpointError, match=r"FEATURE_DIM=1280 contradicts TRANSFORMER_DECODER.context_dim=960"
    ):
        load_model(ckpt)
    wide_head = student_state(mobilenet, 1280)
    ckpt = write_fast_hamer_run(tmp_path / "r3", wide_head, fast_hamer_model_config("mobilenet_v3", "large"))
    with pytest.raises(CheckpointError, match=r"says context_dim=960 .*to_kv.weight takes 1280 channels"):
        load_model(ckpt)


def test_missing_backbone_key_is_refused(tmp_path: Path, mobilenet) -> None:
    state = student_state(mobilenet, 960)
    del state["backbone.16.0.weight"]
    ckpt = write_fast_hamer_run(tmp_path / "r", state, fast_hamer_model_config("mobilenet_v3", "large"))
    with pytest.raises(CheckpointError, match=r"1 missing keys: \['backbone.16.0.weight'\]"):
        load_model(ckpt)


def test_unsupported_backbone_is_one_line_naming_it_and_the_supported_ones(tmp_path: Path, mobilenet) -> None:
    state = student_state(mobilenet, 960)
    ckpt = write_fast_hamer_run(tmp_path / "r", state, fast_hamer_model_config("vit_default", "base"))
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    message = str(err.value)
    assert "\n" not in message
    assert "TYPE='vit_default' SIZE='base' is not supported" in message
    assert "mobilenet_v3 (any)" in message and "resnet (50, 101)" in message and "efficientnet_v2" in message


def test_pickled_and_yaml_configs_must_agree(tmp_path: Path, mobilenet) -> None:
    state = student_state(mobilenet, 960)
    run = tmp_path / "r"
    write_fast_hamer_run(run, state, fast_hamer_model_config("mobilenet_v3", "large"))
    wrong = fast_hamer_model_config("mobilenet_v3", "large", mlp_dim=512)
    import yaml

    (run / "model_config.yaml").write_text(yaml.safe_dump(wrong))
    with pytest.raises(CheckpointError, match=r"hyper_parameters and .*model_config.yaml describe different"):
        load_model(run)


def test_a_folder_that_is_no_run_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match=r"is a folder but not a HaMeR / Fast-HaMeR run folder"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_model(tmp_path / "missing")


def test_classifier_imagenet_file_initialises_the_backbone(tmp_path: Path) -> None:
    """backbone_init takes the torchvision classifier's own state dict (fc / classifier ignored)."""
    import torchvision.models as tvm

    torch.manual_seed(2)
    classifier = tvm.mobilenet_v3_large(weights=None)
    torch.save(classifier.state_dict(), tmp_path / "mobilenet_v3_large.pth")
    model = create_model("fh_mobilenet_v3_large", backbone_init=tmp_path / "mobilenet_v3_large.pth")
    for k, v in classifier.features.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k


def test_a_student_config_where_hamer_keeps_its_config_is_caught(tmp_path: Path) -> None:
    """HaMeR's layout (hamer_ckpts/model_config.yaml above checkpoints/hamer.ckpt) is read, so a resnet
    config there no longer passes for the ViT teacher's."""
    from fixtures.hamer_checkpoint import hamer_model_config, write_hamer_checkpoint

    from fast_hamer_core.models.lightning import check_weights_fit

    ckpt = tmp_path / "hamer_ckpts" / "checkpoints" / "hamer.ckpt"
    state = {
        "backbone.patch_embed.proj.weight": torch.zeros(16, 3, 16, 16),
        "mano_head.deccam.bias": torch.zeros(3),
    }
    write_hamer_checkpoint(ckpt, state, model_config=hamer_model_config(), write_yaml=False)
    import yaml

    resnet = fast_hamer_model_config("resnet", 50)
    (tmp_path / "hamer_ckpts" / "model_config.yaml").write_text(yaml.safe_dump(resnet))
    with pytest.raises(
        CheckpointError, match=r"hyper_parameters and .*hamer_ckpts/model_config.yaml describe"
    ):
        load_model(tmp_path / "hamer_ckpts")
    with pytest.raises(CheckpointError, match=r"says fh_resnet50, but its backbone weights contradict it"):
        check_weights_fit(get_config("fh_resnet50"), state, ckpt, "its config")


def test_plain_references_in_the_config_are_followed(tmp_path: Path, mobilenet) -> None:
    """``${A.B}`` values (OmegaConf interpolations, unresolved in the file) are looked up in the config;
    no resolver runs and other strings stay as they are."""
    from fast_hamer_core.models.lightning import lookup

    cfg = fast_hamer_model_config("mobilenet_v3", "large")
    cfg["STUDENT"] = {"TYPE": "mobilenet_v3", "DIM": 960}
    cfg["MODEL"]["BACKBONE"]["TYPE"] = "${STUDENT.TYPE}"
    cfg["MODEL"]["MANO_HEAD"]["TRANSFORMER_DECODER"]["context_dim"] = "${STUDENT.DIM}"
    assert lookup(cfg, "MODEL.BACKBONE.TYPE") == "mobilenet_v3"
    assert lookup(cfg, "MANO.MEAN_PARAMS") == "${MANO.DATA_DIR}/mano_mean_params.npz"  # not a plain reference
    assert lookup(cfg, "MODEL.NOPE", 7) == 7
    ckpt = write_fast_hamer_run(tmp_path / "r", student_state(mobilenet, 960), cfg)
    assert load_model(ckpt).config == get_config("fh_mobilenet_v3_large")
