"""``fast-hamer detect-eval``: score a hand detector on labelled photos (recall per kind, precision, ...)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("fast_hamer.detect_eval")


def _option(text: str) -> tuple[str, object]:
    """``key=value`` -> ``(key, value)``; the value is read as YAML (numbers, true/false, null, lists)."""
    import yaml

    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a keyword name, got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"cannot read the value of {text!r}: {err}") from err


def register(sub: argparse._SubParsersAction) -> None:
    from fast_hamer_core.cli.detect import add_detector_arguments
    from fast_hamer_core.evaluation.detection import DEFAULT_IOU_THRESHOLD
    from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH

    p = sub.add_parser(
        "detect-eval",
        help="score the hand detector on labelled photos (recall per kind of hand, precision, sides, ms)",
        description="Run the hand detector on every photo of a label file and score it: recall overall "
        "and per kind of hand (clear, holding an object, small, tiny, close-up, occluded, first person, "
        "gloved, several people, dark), precision, duplicates (one hand reported twice: they count "
        "against precision), side accuracy on the found hands whose side is labelled, and milliseconds "
        "per image (detector only, after a warm-up); repeat --mode to score several settings side by side "
        "(and --plot them). Detections match labels one-to-one (Hungarian) on "
        "box IoU. The label format is documented in fast_hamer_core/evaluation/hand_labels.py; "
        "`fast-hamer detect-hard-set` makes harder copies of a labelled set.",
        epilog="examples: fast-hamer detect-eval --images ../shared/data/hands --out results/det.json  |  "
        "fast-hamer detect-eval --labels hard/labels.json --mode fast --mode thorough --plot recall.png  |  "
        "fast-hamer detect-eval --images DIR --detector-option max_side_px=1280",
    )
    p.add_argument(
        "--labels",
        type=Path,
        default=SHARED_LABELS_PATH,
        help="label file (default: the packaged labels of the five shared photos, to use with "
        "--images ../shared/data/hands)",
    )
    p.add_argument(
        "--images", type=Path, help="folder the label file's names are relative to (default: its folder)"
    )
    p.add_argument(
        "--iou",
        type=float,
        default=DEFAULT_IOU_THRESHOLD,
        help=f"IoU a detection needs with a label box to count as that hand (default {DEFAULT_IOU_THRESHOLD}"
        ": detector boxes are tight keypoint boxes, labels whole-hand boxes)",
    )
    p.add_argument("--out", type=Path, help="write the summary and every image's matches as JSON here")
    p.add_argument(
        "--render",
        type=Path,
        metavar="DIR",
        help="write every image with its labels (green: found, red: missed, grey: ignored) and detections "
        "(side colours; false positives tagged FP) drawn, as DIR/<name>.png",
    )
    p.add_argument("--warmup", type=int, default=1, help="untimed detector runs before timing (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--clips",
        type=int,
        metavar="FRAMES",
        help="score on streams instead of photos: every labelled photo becomes a clip of FRAMES frames "
        "moving like a hand-held camera, its labels following; every frame is scored, and the setting "
        "'stream' (the stream detector as the node runs it on a camera) is compared with the --mode ones "
        "(fast_hamer_core/evaluation/clips.py)",
    )
    p.add_argument(
        "--one-stream",
        action="store_true",
        help="with --clips: play the clips back to back as one stream (each clip change a scene cut the "
        "detector must handle without a fresh start) instead of one new stream per clip",
    )
    p.add_argument(
        "--stream-option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --clips: an option of the stream detector, as HandReconstructor.from_options takes it "
        "(search_every=N, scan_windows=false, ...)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="draw recall per kind of hand as grouped bars, one per --mode, into FILE (.png, .svg or .pdf)",
    )
    # The detector, selected as `fast-hamer detect` selects it; --mode may be repeated to compare settings.
    add_detector_arguments(p, any_backend=True, several_modes=True)
    p.add_argument(
        "--detector-option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra keyword argument for the detector's constructor (repeatable; the value is read as "
        "YAML), e.g. --detector-option mode=thorough; overrides the flags above",
    )
    p.set_defaults(func=run)


def detector_kwargs(args: argparse.Namespace) -> dict:
    """``create_detector(args.detector, **kwargs)``'s kwargs from the flags, as `detect` builds them."""
    from fast_hamer_core.detection import available_detectors

    if args.detector not in available_detectors():
        raise ValueError(f"unknown detector {args.detector!r}; available: {', '.join(available_detectors())}")
    common = {
        "max_hands": args.max_hands,
        "min_detection_confidence": args.min_confidence,
        "mirrored_input": args.mirrored_input,
    }
    if args.detector == "yolo":
        if not args.detector_model:
            raise ValueError("--detector yolo needs --detector-model PATH to the YOLO .pt weights")
        kwargs = {"weights_path": args.detector_model, **common}
    elif args.detector == "mediapipe":
        kwargs = {"model_path": args.detector_model, "handedness": args.handedness, **common}
    else:  # a backend registered later: only the options that every backend takes
        kwargs = dict(common)
    kwargs.update(dict(args.detector_option))
    return {key: value for key, value in kwargs.items() if value is not None}


def render_score(image_dir: Path, score, out_dir: Path) -> Path:
    """Draw one image's labels and detections (see ``--render``) into ``out_dir``."""
    import cv2
    import numpy as np

    from fast_hamer_core.detection.draw import draw_detections
    from fast_hamer_core.preprocess import read_rgb

    canvas = draw_detections(read_rgb(image_dir / score.image.file), score.detections)
    thick = max(1, round(max(canvas.shape[:2]) / 640))
    found = score.found
    for i, hand in enumerate(score.image.hands):
        colour = (160, 160, 160) if hand.ignore else (0, 220, 0) if i in found else (255, 0, 0)
        x0, y0, x1, y1 = np.round(hand.box).astype(int).tolist()
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 2 * thick, cv2.LINE_AA)
    for j in score.false_positives:
        x0, _, _, y1 = np.round(score.detections[j].box).astype(int).tolist()
        tag = "FP dup" if j in score.duplicates else "FP off" if j in score.misplaced else "FP"
        org = (x0, min(canvas.shape[0] - 2, y1 + 14 * thick))
        cv2.putText(
            canvas, tag, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, (255, 0, 255), thick, cv2.LINE_AA
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{Path(score.image.file).stem}.png"
    if not cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)):
        raise RuntimeError(f"cannot write {path}")
    return path


def modes(args: argparse.Namespace) -> list[str]:
    """The settings to score: every ``--mode`` given (in order, each once), or the backend's default."""
    from fast_hamer_core.cli.detect import DEFAULT_PHOTO_MODE

    if args.mode:
        return list(dict.fromkeys(args.mode))
    return ["fast" if args.detector == "yolo" else DEFAULT_PHOTO_MODE]


#: The setting name of the stream detector in ``--clips`` comparisons.
STREAM_SETTING = "stream"


def stream_detector(args: argparse.Namespace, base: dict):
    """The detector the node runs on a camera (``HandReconstructor.from_options(stream=True)``, landmarks
    mode) with the chosen model, side and limit flags and every ``--stream-option``."""
    from fast_hamer_core.pipeline import HandReconstructor

    options = {
        "detector_model": base.get("model_path"),
        "handedness": base.get("handedness", "flip_consistent"),
        "mirrored_input": bool(base.get("mirrored_input", False)),
        "max_hands": base.get("max_hands"),
        "min_detection_confidence": base.get("min_detection_confidence"),
        **dict(args.stream_option),
    }
    try:
        return HandReconstructor.from_options(checkpoint=None, stream=True, device="cpu", **options).detector
    except TypeError as err:
        raise ValueError(f"the stream detector rejects the options: {err}") from err


def score_setting(args: argparse.Namespace, setting: str, kwargs: dict, labels, image_dir: Path) -> list:
    """Build the detector of one setting and run it over every labelled image (or clip, ``--clips``)."""
    from fast_hamer_core.detection import create_detector
    from fast_hamer_core.evaluation.clips import evaluate_on_clips
    from fast_hamer_core.evaluation.detection import evaluate_detector

    if setting == STREAM_SETTING:
        detector = stream_detector(args, kwargs)
    else:
        try:
            detector = create_detector(args.detector, **kwargs)
        except TypeError as err:  # a --detector-option the backend does not take
            raise ValueError(f"detector {args.detector!r} rejects the options: {err}") from err
    with detector:
        if args.clips:
            return evaluate_on_clips(
                detector,
                labels,
                image_dir,
                args.clips,
                iou_threshold=args.iou,
                progress=not args.no_progress,
                one_stream=args.one_stream,
            )
        return evaluate_detector(
            detector,
            labels,
            image_dir,
            iou_threshold=args.iou,
            warmup=args.warmup,
            progress=not args.no_progress,
        )


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core.evaluation.detection import format_summary, summarise
    from fast_hamer_core.evaluation.detection_report import format_comparison, plot_recall_by_kind
    from fast_hamer_core.evaluation.hand_labels import load_labels

    if not 0.0 < args.iou <= 1.0:
        raise ValueError(f"--iou must be in (0, 1], got {args.iou}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if args.plot is not None and not args.plot.suffix:
        raise ValueError(f"--plot needs an image file name with a suffix (.png, .svg, .pdf), got {args.plot}")
    labels = load_labels(args.labels)
    image_dir = args.images if args.images is not None else args.labels.parent
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {image_dir}")
    missing = [image.file for image in labels if not (image_dir / image.file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} labelled image(s) not in {image_dir}: {', '.join(missing[:5])} "
            "(pass --images FOLDER where they are)"
        )
    if args.clips is not None and args.clips < 1:
        raise ValueError(f"--clips must be >= 1 frame, got {args.clips}")
    if args.clips and args.render:
        raise ValueError("--render draws photos; with --clips write the frames' matches with --out instead")
    if args.stream_option and not args.clips:
        raise ValueError("--stream-option tunes the stream detector of --clips: give --clips FRAMES too")
    if args.one_stream and not args.clips:
        raise ValueError("--one-stream plays the clips of --clips as one stream: give --clips FRAMES too")
    settings = modes(args)
    if args.detector == "yolo" and settings != ["fast"]:
        raise ValueError("--mode thorough needs --detector mediapipe (the yolo backend has one mode)")
    if args.clips and args.detector == "mediapipe":
        settings.append(STREAM_SETTING)
    base = detector_kwargs(args)
    log.info(
        "%d images, %d hands; detector %s %s; mode(s) %s",
        len(labels),
        sum(len(i.hands) for i in labels),
        args.detector,
        base,
        ", ".join(settings),
    )
    runs = []
    on = f", clips of {args.clips} frames{', one stream' if args.one_stream else ''}" if args.clips else ""
    for mode in settings:
        # A --detector-option mode=... still wins; the stream detector shows its --stream-option too.
        kwargs = {**base, **dict(args.stream_option)} if mode == STREAM_SETTING else {"mode": mode, **base}
        scores = score_setting(args, mode, kwargs, labels, image_dir)
        summary = summarise(scores)
        title = f"{args.labels.name}{on}: {mode}, detector {args.detector}, " + ", ".join(
            f"{k}={v}" for k, v in kwargs.items() if k not in ("model_path", "weights_path", "mode")
        )
        print(format_summary(summary, title=f"{title} (IoU >= {args.iou:g})"))
        if args.render:
            out_dir = args.render if len(settings) == 1 else args.render / mode
            for score in scores:
                render_score(image_dir, score, out_dir)
            log.info("drew %d images into %s", len(scores), out_dir)
        runs.append(
            {
                "mode": kwargs.get("mode", mode),
                "detector_kwargs": {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()},
                "summary": summary,
                "per_image": [score.to_dict() for score in scores],
            }
        )
    summaries = {run["mode"]: run["summary"] for run in runs}
    if len(runs) > 1:
        print()
        title = f"{args.labels.name}{on}: {args.detector}, modes compared"
        print(format_comparison(summaries, title=title, unit="frames" if args.clips else "images"))
    if args.out:
        payload = {
            "labels": str(args.labels),
            "images_dir": str(image_dir),
            "iou_threshold": args.iou,
            "detector": args.detector,
        }
        if args.clips:
            payload["clip_frames"] = args.clips
            payload["one_stream"] = args.one_stream
        if len(runs) == 1:
            payload.update({k: v for k, v in runs[0].items() if k != "mode"})
        else:
            payload["runs"] = runs
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=1))
        log.info("wrote %s", args.out)
    if args.plot:
        path = plot_recall_by_kind(summaries, args.plot, title=f"{args.labels.name}: recall per kind of hand")
        log.info("plotted recall per kind into %s", path)
    return 0
