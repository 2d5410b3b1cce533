"""Regions along the image's border, for hands reaching into view.

A robot's camera, a first-person camera and a close-up see hands that the frame's border cuts: the
forearm, the wrist and often part of the palm lie outside the image. The palm detector, which needs the
palm, misses many of them (and the fast detector's landmark model sees them at a presence below the
thorough detector's 0.8), while the hand landmark model, given a region that reaches past the border
with its "up" pointing into the image (the hand's fingers towards the image's centre, its wrist outside),
sees most of them at presence 0.9 or more.

:func:`border_regions` lays such squares along each of the four borders: side :attr:`BorderConfig.size`
times the image's shorter side, :attr:`BorderConfig.outside` of it beyond the border, spaced at most
:attr:`BorderConfig.step` sides apart (:func:`~fast_hamer_core.detection.search.spaced_centres`, as the
tiles are), rotated so that up points into the image (bottom border: upright; top: upside down; left
border: up is to the right, +90 degrees clockwise; right border: -90 degrees).
The thorough detector checks them last, like any region
(:func:`~fast_hamer_core.detection.regions.check_in_turn`); the landmark model's presence decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fast_hamer_core.detection.base import require_fractions
from fast_hamer_core.detection.blaze import RotatedRect
from fast_hamer_core.detection.search import spaced_centres


@dataclass(frozen=True)
class BorderConfig:
    """Where the border regions lie (module docstring); ``enabled=False``: none."""

    enabled: bool = True
    size: float = 0.6  #: region side over the image's shorter side
    outside: float = 0.3  #: share of the region's side beyond the border
    step: float = 0.75  #: spacing of the regions along a border, in region sides

    def __post_init__(self) -> None:
        require_fractions(outside=self.outside)
        if not 0.0 < self.size <= 2.0:
            raise ValueError(f"size must be in (0, 2], got {self.size}")
        if not 0.0 < self.step <= 1.0:
            raise ValueError(f"step must be in (0, 1], got {self.step}")


def border_regions(width: int, height: int, config: BorderConfig = BorderConfig()) -> list[RotatedRect]:
    """The border regions of a ``width`` x ``height`` image (pixels), bottom border first, then left,
    right and top (hands reach in from below most often: a first-person view, a robot's workspace)."""
    if not config.enabled:
        return []
    side = config.size * min(width, height)
    inset = (0.5 - config.outside) * side  # region centre to the border, inside the image
    xs = spaced_centres(width, side, config.step)  # along the bottom and top borders
    ys = spaced_centres(height, side, config.step)  # along the left and right borders
    regions = [RotatedRect((x, height - inset), side, 0.0) for x in xs]
    regions += [RotatedRect((inset, y), side, math.pi / 2) for y in ys]
    regions += [RotatedRect((width - inset, y), side, -math.pi / 2) for y in ys]
    regions += [RotatedRect((x, inset), side, math.pi) for x in xs]
    return regions


__all__ = ["BorderConfig", "border_regions"]
