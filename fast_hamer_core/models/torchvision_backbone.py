"""Fast-HaMeR's student backbones: a torchvision (or timm) classifier cut into an ``nn.Sequential``.

Fast-HaMeR (``hamer/models/backbones/__init__.py``, ``create_backbone``) builds its students from
torchvision classifiers (timm for MobileViT) and keeps a prefix of their top-level modules:

- ``features``: ``model.features`` (MobileNetV3, ConvNeXt), the stride-32 map before the pooling;
- ``children[:-2]``: every child but ``avgpool`` and ``fc`` (ResNet, Wide-ResNet);
- ``children[:-1]``: every child but the classifier: EfficientNetV2 keeps its ``avgpool`` (so the map
  is 1x1: the head attends to a single token), MobileViT keeps ``final_conv`` (640 channels).

The kept modules become the items of one ``nn.Sequential`` (``SequentialBackbone`` *is* that Sequential),
so the parameter names are Fast-HaMeR's: ``backbone.0.0.weight`` (MobileNetV3 ``features[0][0]``),
``backbone.4.0.conv1.weight`` (ResNet ``layer1[0].conv1``). Nothing is downloaded: torchvision builders
run with ``weights=None``, timm with ``pretrained=False``; an ImageNet initialisation is read from a
local classifier state-dict file (:meth:`SequentialBackbone.load_classifier_weights`).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from fast_hamer_core.models.config import LAYER_CUTS
from fast_hamer_core.models.timm_backbone import check_state_dict, read_state_dict_file

CLASSIFIER_LIBRARIES: tuple[str, ...] = ("torchvision", "timm")


def build_classifier(library: str, name: str) -> nn.Module:
    """The full ImageNet classifier ``name`` of ``library``, random init (nothing is downloaded)."""
    if library == "torchvision":
        import torchvision.models

        builder = getattr(torchvision.models, name, None)
        if builder is None or not callable(builder):
            raise ValueError(f"torchvision.models has no model builder {name!r}")
        return builder(weights=None)
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    raise ValueError(f"classifier library must be one of {CLASSIFIER_LIBRARIES}, got {library!r}")


def cut_classifier(classifier: nn.Module, layer_cut: str) -> list[tuple[str, nn.Module]]:
    """(name in the classifier, module) of the modules Fast-HaMeR keeps, in order (see module docstring)."""
    if layer_cut == "features":
        features = getattr(classifier, "features", None)
        if not isinstance(features, nn.Sequential):
            raise ValueError(f"{type(classifier).__name__} has no .features Sequential to cut")
        return [(f"features.{n}", m) for n, m in features.named_children()]
    if layer_cut in ("children[:-1]", "children[:-2]"):
        drop = int(layer_cut[len("children[:-") : -1])
        return list(classifier.named_children())[:-drop]
    raise ValueError(f"layer_cut must be one of {LAYER_CUTS}, got {layer_cut!r}")


class SequentialBackbone(nn.Sequential):
    """(B, 3, H, W) -> (B, C, h, w): the kept modules of a classifier, run in order (Fast-HaMeR layout).

    Attributes:
        library, classifier_name, layer_cut: what was built and how it was cut.
        source_names: the name of item ``i`` inside the full classifier (``conv1``, ``features.3``,
            ...): maps classifier state-dict keys onto this Sequential's (``{i}.rest``).
        out_channels: channels of the output map (the last convolution's output channels).
    """

    def __init__(self, library: str, classifier_name: str, layer_cut: str) -> None:
        kept = cut_classifier(build_classifier(library, classifier_name), layer_cut)
        super().__init__(*(m for _, m in kept))
        self.library = library
        self.classifier_name = classifier_name
        self.layer_cut = layer_cut
        self.source_names: tuple[str, ...] = tuple(n for n, _ in kept)
        convs = [m for m in self.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError(f"{classifier_name} cut at {layer_cut} holds no convolution")
        self.out_channels = int(convs[-1].out_channels)

    def classifier_key(self, key: str) -> str:
        """This Sequential's key ``"{i}.rest"`` -> the full classifier's ``"{source_names[i]}.rest"``.

        Inverse: :meth:`sequential_key`."""
        index, _, rest = key.partition(".")
        return f"{self.source_names[int(index)]}.{rest}"

    def sequential_key(self, classifier_key: str) -> str | None:
        """A full-classifier key -> this Sequential's key, or None if it belongs to a dropped module.

        Inverse: :meth:`classifier_key`."""
        for i, prefix in enumerate(self.source_names):
            if classifier_key.startswith(prefix + "."):
                return f"{i}.{classifier_key[len(prefix) + 1 :]}"
        return None

    def load_classifier_weights(self, path: str | Path) -> None:
        """Load a local ImageNet init, strictly (shapes checked); ValueError lists the mismatches.

        Accepts the full classifier's state dict (torchvision / timm names: the dropped modules'
        keys, e.g. ``fc.*`` or ``classifier.*``, are ignored) or one in this Sequential's names
        (``0.weight``; with a ``backbone.`` prefix only the ``backbone.*`` keys are read, so a whole
        model's state dict, as Fast-HaMeR's checkpoints hold it, works too).
        """
        state = read_state_dict_file(path)
        if any(k.startswith("backbone.") for k in state):  # a whole model (Fast-HaMeR .ckpt, our .pt)
            state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
        expected = self.state_dict()
        if not set(state) & set(expected):  # classifier names -> ours
            mapped = {self.sequential_key(k): v for k, v in state.items()}
            state = {k: v for k, v in mapped.items() if k is not None}
        check_state_dict(state, expected, f"{path} is not a {self.library} {self.classifier_name} state dict")
        self.load_state_dict(state, strict=True)

    def extra_repr(self) -> str:
        return f"library={self.library!r}, classifier={self.classifier_name!r}, layer_cut={self.layer_cut!r}"
