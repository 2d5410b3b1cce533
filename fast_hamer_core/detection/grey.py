"""The thorough detector's grey pass: hands looked for, and re-checked, on a grey copy of the image.

MediaPipe's palm, landmark and pose models learned skin colour along with shape: on hands whose colour
is not skin's (gloves) the palm detector finds fewer palms, the pose model fewer wrists, and the landmark
model's hand presence drops, often below the thorough detector's threshold, where the same models on
the grey copy (:func:`~fast_hamer_core.detection.search.grey_copy`: every channel the luma) still see a
hand. So after the colour pass (:class:`~fast_hamer_core.detection.thorough.ThoroughHandDetector`:
regions, each checked in colour), the grey pass looks, on the grey copy, at

1. the palm search's regions on the grey copy (:attr:`GreyPassConfig.search`: by default the whole and
   padded windows, plain and mirrored, no tiles), best palm first;
2. the regions from the body on the grey copy (:attr:`GreyPassConfig.pose`, if the detector uses the
   body), by wrist visibility;
3. the colour pass's regions whose check failed in colour (:attr:`GreyPassConfig.recheck`),

each unless its centre lies on a hand found in colour or it overlaps a region checked in vain before it
(:func:`~fast_hamer_core.detection.regions.check_in_turn`). Each is checked like a colour region, in grey
(a region found in grey is verified in grey; hands found in colour keep their colour answer), and a hand
found in grey needs a hand presence of at least :attr:`GreyPassConfig.min_presence` (0.9, above the
detector's 0.8: on the hard sets one false hand came through the grey pass at 0.85, and no true one
lay between 0.8 and 0.9). A grey hand that is one of the colour pass's hands is dropped.

Measured on synthetic gloves (hands' skin recoloured, :mod:`fast_hamer_core.evaluation.gloves`), not on
real gloved hands: README, "Detection modes".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from fast_hamer_core.detection.blaze import PalmDetector
from fast_hamer_core.detection.merge import HandCandidate, same_hand
from fast_hamer_core.detection.pose import PeopleSearch, PeopleSearchConfig
from fast_hamer_core.detection.regions import Region
from fast_hamer_core.detection.search import PalmSearch, SearchConfig, WindowConfig, grey_copy

if TYPE_CHECKING:
    from fast_hamer_core.detection.thorough import ThoroughHandDetector


def _no_tiles() -> SearchConfig:
    return SearchConfig(tile_grids=())


def _whole_image_people() -> PeopleSearchConfig:
    return PeopleSearchConfig(windows=WindowConfig(pad_factor=0.0, tile_grids=()), max_people=4)


@dataclass(frozen=True)
class GreyPassConfig:
    """Knobs of the grey pass (see the module docstring); ``enabled=False`` turns all of it off."""

    enabled: bool = True
    #: Palm search windows on the grey copy; ``None``: no palm search there.
    search: SearchConfig | None = field(default_factory=_no_tiles)
    pose: bool = True  #: regions from the body on the grey copy (if the detector uses the body)
    #: Where people are searched on the grey copy: the whole image only, as the colour pass did before
    #: its people search (the colour pass's 3x3 tiles on the grey copy too cost 70-80 ms per image on
    #: the hard sets and found one gloved hand more of 224).
    people: PeopleSearchConfig = field(default_factory=_whole_image_people)
    recheck: bool = True  #: look again, in grey, at the regions whose check failed in colour
    min_presence: float = 0.9  #: hand presence a hand found in grey needs (and the detector's own)


class GreyPass:
    """The grey pass of one :class:`~fast_hamer_core.detection.thorough.ThoroughHandDetector`."""

    def __init__(self, palm: PalmDetector, config: GreyPassConfig = GreyPassConfig()) -> None:
        self.config = config
        self.search = None if config.search is None else PalmSearch(palm, config.search)
        self._people: PeopleSearch | None = None  # built on first use, on the detector's pose detector

    def candidates(
        self,
        detector: ThoroughHandDetector,
        rgb: np.ndarray,
        found: list[HandCandidate],
        failed: list[Region],
        budget: int,
    ) -> list[HandCandidate]:
        """Hands confirmed in grey other than the ``found`` ones; ``failed``: the colour regions whose
        check failed; at most ``budget`` regions are checked."""
        if not self.config.enabled or budget <= 0:
            return []
        grey = grey_copy(rgb)
        todo: list[Region] = []
        if self.search is not None:
            todo += [Region.from_palm(p) for p in self.search.find(grey)]
        if self.config.pose and detector.body is not None:
            if self._people is None:
                self._people = PeopleSearch(detector.body.detector, self.config.people)
            todo += [Region.from_arm(p) for p in detector.body.propose(grey, self._people)]
        if self.config.recheck:
            todo += [replace(region, priority=0.0) for region in failed]
        # Grey palms, grey arms, then the failed regions; none on a hand found in colour.
        hands, _ = detector.check_all(grey, todo, found, budget)
        # Grey hands need their own presence, whatever the arm says (no two-cue acceptance in grey).
        least = max(detector.min_presence, self.config.min_presence)
        rule = detector.config.duplicates
        return [h for h in hands if h.presence >= least and not any(same_hand(h, f, rule) for f in found)]


__all__ = ["GreyPass", "GreyPassConfig"]
