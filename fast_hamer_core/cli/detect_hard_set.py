"""``fast-hamer detect-hard-set``: harder copies of labelled photos (small, close-up, occluded, dark, ...)."""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

log = logging.getLogger("fast_hamer.detect_hard_set")


def register(sub: argparse._SubParsersAction) -> None:
    from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH
    from fast_hamer_core.evaluation.hard_cases import DEFAULT_MAKERS, MAKERS

    p = sub.add_parser(
        "detect-hard-set",
        help="make hard copies of labelled photos for detect-eval (small, tiny, close-up, occluded, dark, "
        "gloved)",
        description="Write harder versions of every labelled photo, with labels that follow the image "
        "exactly, into OUT (images + labels.json, ready for `fast-hamer detect-eval --labels "
        "OUT/labels.json`): the photo shrunk onto a canvas of its own size (largest hand at 7 % / 3.5 % "
        "of the longer side), a tight close-up crop per hand, occluders pasted over every hand, darkened and "
        "low-contrast copies, and copies whose hands' skin is recoloured to gloves (synthetic gloves: the "
        "hands keep their shape and shading); with --cases at_border, crops whose border cuts a hand off; "
        "with --cases no_hands, crops that show no hand (every detection there is a false hand). "
        "Deterministic for a --seed. "
        "Details: fast_hamer_core/evaluation/hard_cases.py.",
        epilog="example: fast-hamer detect-hard-set --images ../shared/data/hands --out hard_hands && "
        "fast-hamer detect-eval --labels hard_hands/labels.json",
    )
    p.add_argument(
        "--labels",
        type=Path,
        default=SHARED_LABELS_PATH,
        help="label file of the source photos (default: the packaged labels of the shared photos)",
    )
    p.add_argument(
        "--images", type=Path, help="folder of the source photos (default: the label file's folder)"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (images + labels.json)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--cases",
        default=",".join(DEFAULT_MAKERS),
        help=f"comma list of hard cases to make, of {','.join(MAKERS)} (default {','.join(DEFAULT_MAKERS)}; "
        "at_border: crops whose border cuts a hand, as a robot's or a first-person camera sees it)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core.evaluation.hand_labels import load_labels
    from fast_hamer_core.evaluation.hard_cases import MAKERS, write_hard_set

    makers = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in makers if name not in MAKERS]
    if not makers or unknown:
        raise ValueError(f"--cases: unknown {unknown or 'empty list'}; known: {', '.join(MAKERS)}")
    labels = load_labels(args.labels)
    image_dir = args.images if args.images is not None else args.labels.parent
    missing = [image.file for image in labels if not (image_dir / image.file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} labelled image(s) not in {image_dir}: {', '.join(missing[:5])} "
            "(pass --images FOLDER where they are)"
        )
    if args.out.resolve() == image_dir.resolve():
        raise ValueError("--out must differ from the source image folder")
    written = write_hard_set(
        labels, image_dir, args.out, seed=args.seed, makers=makers, progress=not args.no_progress
    )
    per_case = Counter(maker for maker, _ in written)
    hands = sum(1 for _, image in written for hand in image.hands if not hand.ignore)
    cases = ", ".join(f"{name} {count}" for name, count in per_case.items())
    print(f"{args.out}: {len(written)} images, {hands} hands to find ({cases})")
    print(f"score them with: fast-hamer detect-eval --labels {args.out / 'labels.json'}")
    return 0
