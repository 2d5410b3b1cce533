"""Architectures as data: one frozen :class:`ModelConfig` per registered model name.

A config says everything needed to build a :class:`~fast_hamer_core.models.hand_model.HandMeshModel`
and to feed it: which backbone (HaMeR's ViTPose-H, a timm student, or a torchvision / timm classifier
cut into an ``nn.Sequential`` the way Fast-HaMeR's code cuts it), the input size the backbone
sees, the feature map it returns, the MANO transformer head and the crop preprocessing. Configs are
plain data so that checkpoints can store them (``to_dict`` / ``from_dict`` are inverses).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: ImageNet RGB mean / std on [0, 1] pixels: HaMeR and every student normalise with them.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: HaMeR's crop camera: focal length in pixels of the 256x256 crop (``EXTRA.FOCAL_LENGTH``).
CROP_FOCAL_LENGTH_PX: float = 5000.0

BACKBONE_KINDS: tuple[str, ...] = ("vit", "timm", "torchvision")
#: How Fast-HaMeR's ``create_backbone`` cuts a classifier into its backbone ``nn.Sequential``:
#: ``features`` = the classifier's ``.features``; ``children[:-N]`` = all top-level children but the last N.
LAYER_CUTS: tuple[str, ...] = ("features", "children[:-1]", "children[:-2]")
JOINT_REPS: dict[str, int] = {"6d": 6}  # HaMeR has no "aa" head either; ModelConfig rejects it (ValueError).


@dataclass(frozen=True)
class PreprocessConfig:
    """How a hand box becomes the network input (HaMeR demo / ViTDetDataset).

    The box (from detector keypoints) is scaled by ``rescale_factor``, expanded to the aspect
    ``box_aspect_wh`` (192:256), made square, and warped to a ``crop_size`` square RGB crop,
    normalised as ``(pixel / 255 - mean) / std``.
    """

    crop_size: int = 256
    rescale_factor: float = 2.0
    box_aspect_wh: float = 192.0 / 256.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class ViTConfig:
    """ViTPose backbone hyper-parameters (HaMeR ``hamer.models.backbones.vit.vit``).

    ``patch_padding`` is the padding of the patch-embedding convolution: HaMeR builds it with
    ``padding = 4 + 2 * (ratio // 2 - 1)`` and ``ratio = 1``, i.e. 2 pixels, which turns a 256x192
    input into a 16x12 token grid.
    """

    img_size: tuple[int, int] = (256, 192)
    patch_size: int = 16
    patch_padding: int = 2
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.55
    norm_eps: float = 1e-6

    @property
    def grid_size(self) -> tuple[int, int]:
        """(rows, cols) of the token grid for ``img_size`` (conv output size formula)."""
        h, w = self.img_size
        p, pad = self.patch_size, self.patch_padding
        return ((h + 2 * pad - p) // p + 1, (w + 2 * pad - p) // p + 1)


@dataclass(frozen=True)
class HeadConfig:
    """MANO transformer decoder head (HaMeR ``MANOTransformerDecoderHead``).

    One query token of ``token_dim`` zeros (HaMeR's ``TRANSFORMER_INPUT: zero``) cross-attends to the
    flattened feature map; ``ief_iters`` residual refinements of the mean parameters (HaMeR default 1).
    """

    dim: int = 1024
    depth: int = 6
    heads: int = 8
    dim_head: int = 64
    mlp_dim: int = 1024
    dropout: float = 0.0
    emb_dropout: float = 0.0
    num_tokens: int = 1
    token_dim: int = 1
    joint_rep: str = "6d"
    num_hand_joints: int = 15
    num_betas: int = 10
    ief_iters: int = 1

    @property
    def npose(self) -> int:
        """Pose output size: (num_hand_joints + 1 global) x joint-rep size, 96 for 6D."""
        return JOINT_REPS[self.joint_rep] * (self.num_hand_joints + 1)


@dataclass(frozen=True)
class ModelConfig:
    """One hand-mesh network: backbone + MANO head + the preprocessing it expects.

    Attributes:
        name: registry name (also stored in checkpoints).
        backbone: ``"vit"`` (HaMeR's ViTPose-H, config in ``vit``), ``"timm"`` (``timm_name``) or
            ``"torchvision"`` (``torchvision_name``, always with ``layer_cut``).
        input_size: (H, W) the backbone sees, after cutting ``crop_columns`` from each side of the crop.
        crop_columns: columns cut from each side of the square crop (HaMeR ViT: 32 -> 256x192).
        context_dim: backbone output channels = the head's cross-attention context size.
        feature_size: (h, w) of the backbone feature map for ``input_size``.
        timm_drop_modules: timm sub-modules that ``forward_features`` never uses (the classifier
            pre-logits), replaced by identities so that every parameter is trained.
        torchvision_name: ``torchvision.models`` builder name (e.g. ``resnet50``), built with
            ``weights=None``.
        layer_cut: one of :data:`LAYER_CUTS`: the classifier becomes an ``nn.Sequential`` of those
            modules, as in Fast-HaMeR (keys ``backbone.0.*``, ...). None for a timm backbone means
            timm's ``forward_features`` (keys ``backbone.model.*``).
        backbone_drop_path_rate: stochastic depth of a timm backbone (ViT: ``vit.drop_path_rate``).
        focal_length_px: crop camera focal length (pixels at ``preprocess.crop_size``).
    """

    name: str
    backbone: str
    input_size: tuple[int, int]
    context_dim: int
    feature_size: tuple[int, int]
    crop_columns: int = 0
    timm_name: str | None = None
    timm_drop_modules: tuple[str, ...] = ()
    torchvision_name: str | None = None
    layer_cut: str | None = None
    backbone_drop_path_rate: float = 0.0
    vit: ViTConfig | None = None
    head: HeadConfig = field(default_factory=HeadConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    focal_length_px: float = CROP_FOCAL_LENGTH_PX

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONE_KINDS:
            raise ValueError(
                f"ModelConfig {self.name!r}: backbone must be one of {BACKBONE_KINDS}, got {self.backbone!r}"
            )
        if self.backbone == "vit" and self.vit is None:
            raise ValueError(f"ModelConfig {self.name!r}: backbone 'vit' needs a ViTConfig")
        if self.backbone == "timm" and not self.timm_name:
            raise ValueError(f"ModelConfig {self.name!r}: backbone 'timm' needs timm_name")
        if self.backbone == "torchvision" and not (self.torchvision_name and self.layer_cut):
            raise ValueError(
                f"ModelConfig {self.name!r}: backbone 'torchvision' needs torchvision_name and layer_cut"
            )
        if self.layer_cut is not None and self.layer_cut not in LAYER_CUTS:
            raise ValueError(
                f"ModelConfig {self.name!r}: layer_cut must be one of {LAYER_CUTS}, got {self.layer_cut!r}"
            )
        if self.layer_cut is not None and (self.backbone == "vit" or self.timm_drop_modules):
            raise ValueError(
                f"ModelConfig {self.name!r}: layer_cut excludes a ViT backbone and timm_drop_modules"
            )
        if self.head.joint_rep not in JOINT_REPS:
            raise ValueError(f"ModelConfig {self.name!r}: joint_rep must be one of {tuple(JOINT_REPS)}")
        crop = self.preprocess.crop_size
        expected = (crop, crop - 2 * self.crop_columns)
        if tuple(self.input_size) != expected:
            raise ValueError(
                f"ModelConfig {self.name!r}: input_size {tuple(self.input_size)} does not "
                f"match crop {crop} minus {self.crop_columns} columns per side {expected}"
            )
        if self.vit is not None and tuple(self.vit.img_size) != tuple(self.input_size):
            raise ValueError(f"ModelConfig {self.name!r}: vit.img_size {self.vit.img_size} != input_size")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of str/int/float/bool/list/None (checkpoint-safe). Inverse: from_dict."""
        return _to_plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config from :meth:`to_dict` output. Unknown keys raise ValueError."""
        data = dict(data)
        vit = data.pop("vit", None)
        head = data.pop("head", None) or {}
        pre = data.pop("preprocess", None) or {}
        kwargs = _typed_kwargs(cls, data, skip=("vit", "head", "preprocess"))
        return cls(
            **kwargs,
            vit=None if vit is None else ViTConfig(**_typed_kwargs(ViTConfig, vit)),
            head=HeadConfig(**_typed_kwargs(HeadConfig, head)),
            preprocess=PreprocessConfig(**_typed_kwargs(PreprocessConfig, pre)),
        )


def _to_plain(value: Any) -> Any:
    """Tuples -> lists, recursively (so configs survive any serialiser)."""
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _typed_kwargs(cls: type, data: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for dataclass ``cls`` from plain data: lists back to tuples, unknown keys fail."""
    names = {f.name for f in fields(cls)} - set(skip)
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config keys {unknown}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
