"""``fast-hamer detect``: hands (boxes, sides, 21 keypoints) in one image file -> JSON / overlay image."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger("fast_hamer.detect")

#: ``--mode`` values (the keys of ``fast_hamer_core.detection.DETECTION_MODES``; no import for ``--help``).
DETECTION_MODE_CHOICES: tuple[str, ...] = ("fast", "thorough")
#: The detection mode for single photos: the one that finds the most hands (time matters less).
DEFAULT_PHOTO_MODE = "thorough"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="detect the hands in one image (boxes, left/right, 21 keypoints)",
        description="Run the hand detector on one image and print/write its detections: box (xyxy pixels), "
        "score, anatomical side with its probability, 21 keypoints in pixels and metric hand-frame 3D "
        "keypoints. The MediaPipe model is found or built automatically (see `--detector-model`).",
    )
    p.add_argument("--image", required=True, type=Path, help="input image (any format OpenCV reads)")
    p.add_argument("--out", type=Path, help="write the detections as JSON here")
    p.add_argument("--render", type=Path, help="write the image with the detections drawn here")
    add_detector_arguments(p)
    p.set_defaults(func=run)


def add_detector_arguments(
    p: argparse.ArgumentParser, any_backend: bool = False, several_modes: bool = False
) -> None:
    """The flags that choose and tune the detector, shared by ``detect`` and ``detect-eval``.

    ``any_backend``: ``--detector`` takes any registered backend name (checked by the caller), not only
    ``mediapipe`` / ``yolo``. ``several_modes``: ``--mode`` may be repeated (``args.mode`` is then a
    list or ``None``), to compare settings on the same photos."""
    p.add_argument(
        "--detector",
        default="mediapipe",
        choices=None if any_backend else ("mediapipe", "yolo"),
        help="backend (default mediapipe; yolo needs ultralytics and --detector-model weights)",
    )
    p.add_argument(
        "--detector-model",
        help="MediaPipe hand_landmarker.task (default: $FAST_HAMER_DETECTOR_MODEL, the models directory, "
        "or built once from the mediapipe 0.10.21 wheel), or the YOLO .pt weights with --detector yolo",
    )
    p.add_argument(
        "--handedness",
        choices=("flip_consistent", "raw"),
        default="flip_consistent",
        help="flip_consistent (default): image + mirrored image, mirror-consistent sides; raw: one pass",
    )
    p.add_argument(
        "--mode",
        choices=DETECTION_MODE_CHOICES,
        default=None,
        action="append" if several_modes else "store",
        help="'fast' (one palm search, MediaPipe's landmarker) or 'thorough' (mediapipe only: multi-scale "
        "palm search + hands from the body, every region re-checked: finds small, close-up and occluded "
        f"hands, several times slower; the README gives the times). Default {DEFAULT_PHOTO_MODE} for "
        "mediapipe, fast for yolo"
        + (
            "; repeat it (--mode fast --mode thorough) to score each and compare them"
            if several_modes
            else ""
        ),
    )
    p.add_argument("--mirrored-input", action="store_true", help="the image(s) are mirrored (selfie camera)")
    p.add_argument(
        "--max-hands", type=int, default=None, help="most hands to report (default 4 fast, 20 thorough)"
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="palm detector threshold (default 0.3 fast, 0.5 thorough, which re-checks every region)",
    )


def detection_mode(args: argparse.Namespace) -> str:
    """``--mode``, or the default of the chosen backend."""
    if args.mode is not None:
        return args.mode
    return "fast" if args.detector == "yolo" else DEFAULT_PHOTO_MODE


def build_detector(args: argparse.Namespace):
    """The detector the flags ask for; ``--max-hands`` / ``--min-confidence`` left out keep its defaults."""
    from fast_hamer_core.detection import create_detector

    limits = {"max_hands": args.max_hands, "min_detection_confidence": args.min_confidence}
    limits = {key: value for key, value in limits.items() if value is not None}
    if args.detector == "yolo":
        if detection_mode(args) != "fast":
            raise ValueError("--mode thorough needs --detector mediapipe (the yolo backend has one mode)")
        return create_detector(
            "yolo", weights_path=args.detector_model, mirrored_input=args.mirrored_input, **limits
        )
    return create_detector(
        "mediapipe",
        mode=detection_mode(args),
        model_path=args.detector_model,
        handedness=args.handedness,
        mirrored_input=args.mirrored_input,
        **limits,
    )


def run(args: argparse.Namespace) -> int:
    import cv2

    from fast_hamer_core.preprocess import read_rgb

    if args.detector == "yolo" and not args.detector_model:
        raise ValueError("--detector yolo needs --detector-model PATH to the YOLO .pt weights")
    rgb = read_rgb(args.image)
    height, width = rgb.shape[:2]
    with build_detector(args) as detector:
        start = time.perf_counter()
        detections = detector.detect(rgb)
        elapsed_ms = 1000.0 * (time.perf_counter() - start)

    print(f"{args.image}: {len(detections)} hand(s) in {elapsed_ms:.0f} ms ({detection_mode(args)} mode)")
    for i, det in enumerate(detections):
        box = ", ".join(f"{v:.0f}" for v in det.box)
        print(f"  {i}: {det.side:5s} p={det.side_score:.2f} score={det.score:.2f} box=[{box}]")

    if args.out:
        payload = {
            "image": str(args.image),
            "width": width,
            "height": height,
            "detector": args.detector,
            "mode": detection_mode(args),
            "handedness": args.handedness if args.detector == "mediapipe" else "class",
            "mirrored_input": bool(args.mirrored_input),
            "elapsed_ms": elapsed_ms,
            "detections": [
                {
                    "box_xyxy_px": det.box.tolist(),
                    "score": det.score,
                    "side": det.side,
                    "side_score": det.side_score,
                    "keypoints_2d_px": None if det.keypoints_2d is None else det.keypoints_2d.tolist(),
                    "keypoints_3d_hand_m": (
                        None if det.keypoints_3d_hand is None else det.keypoints_3d_hand.tolist()
                    ),
                }
                for det in detections
            ],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=1))
        log.info("wrote %s", args.out)
    if args.render:
        from fast_hamer_core.detection.draw import draw_detections

        canvas = draw_detections(rgb, detections)
        args.render.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.render), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)):
            raise ValueError(f"cannot write {args.render} (unknown image extension?)")
        log.info("wrote %s", args.render)
    return 0
