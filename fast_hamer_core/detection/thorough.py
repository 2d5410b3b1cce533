"""The thorough hand detector: multi-scale palm search + hands from the body, every region re-checked.

The fast detector (:mod:`~fast_hamer_core.detection.mediapipe_detector`) runs MediaPipe's hand
landmarker on the whole image: one palm search at 192x192, then the landmark model on each palm. It
misses small hands, close-ups, hands holding things and hands the palm detector does not recognise.
This detector trades time for recall (photos, not streams):

1. Regions from the palm detector on many windows (:class:`~fast_hamer_core.detection.search.PalmSearch`:
   whole image and a padded pass for close-ups, both also mirrored, and overlapping tiles for small
   hands), and from MediaPipe's lite palm detector on the same windows (``config.lite_palms``): a
   smaller network with misses of its own, whose palms rank with the full detector's.
2. Regions from the body (:class:`~fast_hamer_core.detection.pose.BodyHandProposer`): one per visible
   wrist of each person MediaPipe's pose model finds, so an arm leads to its hand even when the palm is
   hidden. People are searched on the whole image (:class:`~fast_hamer_core.detection.pose.PeopleSearch`;
   ``config.people`` can add overlapping tiles, for groups and small people: measured and off by
   default, see :class:`~fast_hamer_core.detection.pose.PeopleSearchConfig`); each is confirmed by the
   pose landmark model, and both its looks (plain and mirrored) propose arms.
   Then regions along the image's border pointing into it (:mod:`~fast_hamer_core.detection.borders`,
   ``config.borders``), for hands reaching into view that the border cuts.
3. Regions are checked best first, palms first; a region whose centre lies on a hand already found, or
   that overlaps a region checked in vain, is skipped
   (:func:`~fast_hamer_core.detection.regions.check_in_turn`; two hands side by side have overlapping
   regions, so overlapping a found hand's region is not enough).
4. Every region is re-checked by the hand landmark model (its hand-presence score): a first look, then
   the region rebuilt from those landmarks (MediaPipe's tracking step: once for a palm's region, up to
   twice for an arm's), which centres rough regions (tiles, arms) on the hand, looked at plainly and
   mirrored (mirror-consistent side, :func:`~fast_hamer_core.detection.merge.combine_mirrored`). Only
   hands whose presence reaches ``min_presence_confidence`` are kept, or, for an arm's region, a lower
   presence (``config.min_presence_with_arm``) when the arm agrees: its wrist clearly visible, the same
   side, the landmark wrist at the pose wrist (:func:`~fast_hamer_core.detection.regions.arm_agrees`).
   Precision comes from this check, not from the proposers.
5. The grey pass (:mod:`~fast_hamer_core.detection.grey`, ``config.grey_pass``): for hands that are not
   skin-coloured (gloves), the palm search, the body and the regions that failed in colour are looked at
   again on a grey copy of the image, and checked there.
6. Duplicates are merged (:func:`~fast_hamer_core.detection.merge.merge_duplicates`): one hand is
   reported once.

Each detection's ``score`` is that hand presence (in [``min_presence_confidence``, 1], or from
``config.min_presence_with_arm`` for a hand its arm confirms), ``side_score``
the probability of the chosen side; keypoints and metric keypoints are the mean of the two final looks.

Cost (2 CPU cores, 1 LiteRT thread per model, unloaded): about 7 ms per palm detector run (the default
search on a 640x640 image: whole and padded windows, each plain and mirrored, + 9 tiles = 13 runs) and
6 ms per lite palm detector run (the same 13),
about 8 ms per pose detector run (one on the whole image by default; with people on 3x3 tiles too,
``config.people``, 10 runs, 80 ms), 13 ms per person and look for the pose landmark model (two looks,
plain and mirrored; at most ``config.people.max_people`` = 8 people), 16 ms per checked region (three
landmark runs, four for an arm's region), 50-90 ms for the grey pass (people on the grey copy are
searched on the whole image only), and about 50 ms for the border regions (10 first looks on a 640x480
image). ``fast-hamer detect-eval`` prints the time per image: 400-460 ms on the shared photos and their
hard copies, against 46-60 ms for the fast detector (README, "Detection modes", with the commands).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fast_hamer_core.detection.base import (
    DEFAULT_MAX_SIDE_PX,
    HANDEDNESS_MODES,
    HandDetector,
    require_at_least,
    require_choice,
    require_fractions,
)
from fast_hamer_core.detection.blaze import LITE_PALM_MODEL, HandLandmarkModel, PalmDetector
from fast_hamer_core.detection.borders import BorderConfig, border_regions
from fast_hamer_core.detection.grey import GreyPass, GreyPassConfig
from fast_hamer_core.detection.merge import (
    DuplicateRule,
    HandCandidate,
    combine_mirrored,
    merge_duplicates,
)
from fast_hamer_core.detection.pose import BodyHandProposer, PeopleSearchConfig
from fast_hamer_core.detection.regions import ArmAgreement, Region, arm_agrees, check_in_turn
from fast_hamer_core.detection.search import PalmSearch, SearchConfig
from fast_hamer_core.preprocess import box_from_keypoints
from fast_hamer_core.types import Detection

log = logging.getLogger(__name__)

#: Defaults of :class:`ThoroughHandDetector`'s ``max_hands`` and ``min_detection_confidence`` (a palm
#: detector score: every region is re-checked, so the proposers need not be permissive). ``max_hands``
#: only cuts the list (the time goes with the regions checked): at 10 it cut 2x3 mosaics of the shared
#: photos to 10 hands where 11-12 are found.
MAX_HANDS: int = 20
MIN_PALM_SCORE: float = 0.5


@dataclass(frozen=True)
class ThoroughConfig:
    """Knobs of the thorough search (defaults: the setting measured in the README)."""

    search: SearchConfig = field(default_factory=SearchConfig)
    use_pose: bool = True  #: propose a region at every visible wrist
    #: Where the body path looks for people (windows, pose detector threshold, ``max_people``).
    people: PeopleSearchConfig = field(default_factory=PeopleSearchConfig)
    region_iou: float = 0.4  #: regions overlapping one checked in vain more than this are not checked
    max_regions: int = 32  #: most regions checked per image (bounds the time on crowded images)
    #: A palm region whose first look shows less presence than this is dropped without refinement.
    min_first_presence: float = 0.5
    #: Refinement steps (landmarks -> region -> landmarks) at most for a palm's region and for an arm's
    #: (rough: it needs more). A region stops refining once its hand is present enough.
    palm_refine_steps: int = 1
    pose_refine_steps: int = 2
    duplicates: DuplicateRule = field(default_factory=DuplicateRule)
    #: Hands looked for and re-checked on a grey copy too, for hands not skin-coloured (gloves).
    grey_pass: GreyPassConfig = field(default_factory=GreyPassConfig)
    #: Hand presence enough for an arm's region whose cues agree (:func:`arm_agrees`); at or above the
    #: detector's ``min_presence_confidence``: off. 0.4: a hand behind another or under an occluder is
    #: seen with little presence at the end of a clearly visible arm. On the shared photos and both hard
    #: sets, the arms' regions with agreeing cues and presence in [0.4, 0.8) were 3, two true hands (one
    #: found by nothing else: hamer_test1's hidden hand on an occluded copy, 0.46) and one duplicate of a
    #: found hand (merged); a palm's region gets no such second cue: below 0.8 its hands were almost only
    #: false ones, and none of them had an agreeing arm.
    min_presence_with_arm: float = 0.4
    arm_agreement: ArmAgreement = field(default_factory=ArmAgreement)
    #: Regions along the image's border, rotated to point into it, for hands reaching into view
    #: (:mod:`~fast_hamer_core.detection.borders`); checked after palms and arms, not again in grey.
    borders: BorderConfig = field(default_factory=BorderConfig)
    #: Windows where MediaPipe's lite palm detector (:meth:`PalmDetector.lite`) searches too, the full
    #: one's by default; ``None``: off. A smaller network that finds some palms the full one misses: on
    #: both hard sets 6 hands more of 224 (tiny, occluded, dark, gloved), no false one, +13 palm runs of
    #: 6 ms; its regions rank with the full detector's palms (by score).
    lite_palms: SearchConfig | None = field(default_factory=SearchConfig)

    def __post_init__(self) -> None:
        require_fractions(min_presence_with_arm=self.min_presence_with_arm)


class ThoroughHandDetector(HandDetector):
    """Hand detector for photos: recall from many regions, precision from re-checking each one.

    Args:
        model_path: ``hand_landmarker.task`` (the palm and landmark models); ``None``: resolved.
        max_hands: most hands reported (the best by hand presence); the time grows with the regions
            checked (``config.max_regions``), not with this.
        min_detection_confidence: palm detector threshold in every window.
        min_presence_confidence: the landmark model's hand presence (mean of the plain and mirrored looks)
            a hand needs to be reported. Higher than the fast detector's 0.5 because many more regions
            are checked: on hard copies of the shared photos every true hand scored >= 0.88, and most of
            the false ones less.
        handedness: ``"flip_consistent"`` (each region also mirrored: mirror-consistent sides) or
            ``"raw"`` (one landmark pass per region, the model's side as is).
        mirrored_input: the image is mirrored (selfie camera): every side swaps.
        threads: LiteRT threads per model.
        max_side_px: longer side the detector sees (larger images are downscaled).
        config: the search's knobs (:class:`ThoroughConfig`).
        loose_models: optional explicit paths ``{"pose_detection.tflite": ..., ...}`` of the loose models
            (:data:`~fast_hamer_core.detection.assets.LOOSE_MODELS`: the body models, the lite palm
            detector).
        use_pose: overrides ``config.use_pose`` (regions from the body), e.g. from
            ``fast-hamer detect-eval --detector-option use_pose=false``.
        grey_pass: overrides ``config.grey_pass.enabled`` (:mod:`~fast_hamer_core.detection.grey`), e.g.
            ``--detector-option grey_pass=false``.
        borders: overrides ``config.borders.enabled`` (:mod:`~fast_hamer_core.detection.borders`), e.g.
            ``--detector-option borders=false``.
        lite_palms: overrides ``config.lite_palms`` (``False``: off; ``True``: on, on the full palm
            search's windows if the config had it off), e.g. ``--detector-option lite_palms=false``.
    """

    name = "thorough"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        max_hands: int = MAX_HANDS,
        min_detection_confidence: float = MIN_PALM_SCORE,
        min_presence_confidence: float = 0.8,
        handedness: str = "flip_consistent",
        mirrored_input: bool = False,
        threads: int = 1,
        max_side_px: int = DEFAULT_MAX_SIDE_PX,
        config: ThoroughConfig | None = None,
        loose_models: dict[str, str] | None = None,
        use_pose: bool | None = None,
        grey_pass: bool | None = None,
        borders: bool | None = None,
        lite_palms: bool | None = None,
    ) -> None:
        super().__init__(max_side_px=max_side_px)
        require_choice("handedness", handedness, HANDEDNESS_MODES)
        require_at_least("max_hands", max_hands, 1)
        require_fractions(
            min_detection_confidence=min_detection_confidence, min_presence_confidence=min_presence_confidence
        )
        self.config = config or ThoroughConfig()
        if use_pose is not None:
            self.config = replace(self.config, use_pose=bool(use_pose))
        if grey_pass is not None:
            grey = replace(self.config.grey_pass, enabled=bool(grey_pass))
            self.config = replace(self.config, grey_pass=grey)
        if borders is not None:
            self.config = replace(self.config, borders=replace(self.config.borders, enabled=bool(borders)))
        if lite_palms is not None and bool(lite_palms) != (self.config.lite_palms is not None):
            self.config = replace(self.config, lite_palms=self.config.search if lite_palms else None)
        self.max_hands = int(max_hands)
        self.min_presence = float(min_presence_confidence)
        self.handedness = handedness
        self.mirrored_input = bool(mirrored_input)
        palm = PalmDetector(model_path, threads=threads, min_score=min_detection_confidence)
        self.model_path = palm.model_path
        self.search = PalmSearch(palm, self.config.search)
        self.grey = GreyPass(palm, self.config.grey_pass)
        self.landmarks = HandLandmarkModel(self.model_path, threads=threads)
        paths = loose_models or {}
        self.lite_search = None
        if self.config.lite_palms is not None:
            lite = PalmDetector.lite(
                paths.get(LITE_PALM_MODEL), threads=threads, min_score=min_detection_confidence
            )
            self.lite_search = PalmSearch(lite, self.config.lite_palms)
        self.body = None
        if self.config.use_pose:
            self.body = BodyHandProposer(
                pose_detector_path=paths.get("pose_detection.tflite"),
                pose_landmark_path=paths.get("pose_landmark_full.tflite"),
                hand_recrop_path=paths.get("hand_recrop.tflite"),
                threads=threads,
                people=self.config.people,
            )

    # ------------------------------------------------------------------ regions
    def regions(self, rgb: np.ndarray) -> list[Region]:
        """The regions to check, each with its priority
        (:func:`~fast_hamer_core.detection.regions.check_in_turn` checks them best first).

        Palms rank first (by score, in [0.5, 1]; the full and the lite detector's together), then the
        arms' regions (by wrist visibility, below 0.5), so a palm region is checked before an arm region
        of the same hand (which is then skipped), and the border regions last.
        """
        found = [Region.from_palm(p) for p in self.search.find(rgb)]
        if self.lite_search is not None:
            found += [Region.from_palm(p) for p in self.lite_search.find(rgb)]
        if self.body is not None:
            found += [Region.from_arm(p) for p in self.body.propose(rgb)]
        height, width = rgb.shape[:2]
        found += [
            Region.from_border(roi, i)
            for i, roi in enumerate(border_regions(width, height, self.config.borders))
        ]
        return found

    def check_all(
        self,
        rgb: np.ndarray,
        regions: list[Region],
        found: Sequence[HandCandidate] = (),
        budget: int | None = None,
    ) -> tuple[list[HandCandidate], list[Region]]:
        """:func:`~fast_hamer_core.detection.regions.check_in_turn` with this detector's check on ``rgb``:
        the hands found in ``regions`` (other than ``found``) and the regions whose check failed."""
        return check_in_turn(
            regions,
            lambda region: self.check(rgb, region),
            found,
            self.config.max_regions if budget is None else budget,
            self.config.region_iou,
        )

    # ------------------------------------------------------------------ checks
    def check(self, rgb: np.ndarray, region: Region) -> HandCandidate | None:
        """The hand in ``region`` after refinement (:meth:`look`), or ``None`` unless :meth:`accepts` it."""
        hand = self.look(rgb, region)
        return hand if hand is not None and self.accepts(hand, region) else None

    def accepts(self, hand: HandCandidate, region: Region) -> bool:
        """Two ways to be a hand: presence ``>= min_presence_confidence`` alone, or, for an arm's region,
        presence ``>= config.min_presence_with_arm`` with the arm agreeing (:func:`arm_agrees`)."""
        if hand.presence >= self.min_presence:
            return True
        return (
            region.arm is not None
            and hand.presence >= self.config.min_presence_with_arm
            and arm_agrees(hand, region.arm, self.config.arm_agreement)
        )

    def look(self, rgb: np.ndarray, region: Region) -> HandCandidate | None:
        """The landmark model's hand in ``region`` after refinement, whatever its presence; ``None`` only
        for a palm's or a border's region whose first look shows too little (``config.min_first_presence``).

        A first look (one landmark run) finds where the hand is; a palm's or a border's region showing too
        little presence stops there (an arm's region does not: the arm is evidence of its own). Then up to
        ``config.palm_refine_steps`` (``pose_refine_steps`` for an arm's or a border's region, rough ones)
        times the region is rebuilt from the landmarks (MediaPipe's tracking step) and looked at again,
        until the hand is present enough.
        The last region is also looked at mirrored (flip-consistent handedness), and the two looks combined.
        """
        look = self.landmarks.run(rgb, region.roi)
        if region.source != "pose" and look.presence < self.config.min_first_presence:
            return None
        steps = self.config.palm_refine_steps if region.source == "palm" else self.config.pose_refine_steps
        for _ in range(steps):
            look = self.landmarks.run(rgb, self.landmarks.roi_from_landmarks(look.keypoints_2d))
            if look.presence >= self.min_presence:
                break
        mirrored = None
        if self.handedness == "flip_consistent":
            mirrored = self.landmarks.run(rgb, look.roi, mirror=True)
        return combine_mirrored(look, mirrored, region.source)

    # ------------------------------------------------------------------ detector
    def _detect(self, rgb: np.ndarray, stamp_s: float | None) -> list[Detection]:
        candidates, failed = self.check_all(rgb, self.regions(rgb))
        failed = [region for region in failed if region.source != "border"]  # the grey pass rechecks these
        candidates += self.grey.candidates(self, rgb, candidates, failed, self.config.max_regions)
        hands = merge_duplicates(candidates, self.config.duplicates)[: self.max_hands]
        detections = [self._to_detection(hand) for hand in hands]
        detections.sort(key=lambda d: (-d.score, float(d.box[0] + d.box[2])))
        return detections

    def _to_detection(self, hand: HandCandidate) -> Detection:
        p_right = 1.0 - hand.p_right if self.mirrored_input else hand.p_right
        return Detection(
            box=box_from_keypoints(hand.keypoints_2d),
            score=float(hand.presence),
            side="right" if p_right >= 0.5 else "left",
            side_score=float(max(p_right, 1.0 - p_right)),
            keypoints_2d=hand.keypoints_2d,
            keypoints_3d_hand=hand.keypoints_3d,
        )
