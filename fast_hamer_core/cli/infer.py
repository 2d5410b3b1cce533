"""``fast-hamer infer``: hands in an image (or each image of a folder) -> JSON (and an overlay image)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from fast_hamer_core.cli.detect import DEFAULT_PHOTO_MODE, DETECTION_MODE_CHOICES

log = logging.getLogger("fast_hamer.infer")
DEFAULT_OUT = Path("result.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="reconstruct the hands in one image or a folder of images",
        description="Reconstruct every hand in an image and write the results as JSON. Without "
        "--checkpoint the detector's landmarks are lifted to 3D (landmarks-only mode). With a folder as "
        "--image, every image in it is processed (one model load, a progress bar); --out / --render are "
        "then folders that get <image stem>.json / <image stem>.png (default --out: hands/).",
    )
    p.add_argument(
        "--image", required=True, type=Path, help="input image (any format OpenCV reads), or a folder of them"
    )
    p.add_argument(
        "--checkpoint", help="mesh model checkpoint (ours .pt or HaMeR .ckpt); omit for landmarks only"
    )
    p.add_argument(
        "--mano", help="MANO_RIGHT .pkl/.npz (default: the converted file in the models directory)"
    )
    p.add_argument(
        "--boxes",
        nargs="+",
        metavar="X0,Y0,X1,Y1[:SIDE]",
        help="hand boxes in pixels instead of running the detector (SIDE left|right, default right)",
    )
    p.add_argument(
        "--detector",
        default="mediapipe",
        choices=("mediapipe", "yolo"),
        help="hand detector (default mediapipe; yolo: boxes only, needs --checkpoint and --detector-model)",
    )
    p.add_argument(
        "--detector-model",
        help="MediaPipe hand_landmarker.task (default: resolved automatically), or the YOLO .pt weights "
        "with --detector yolo (e.g. WiLoR's pretrained_models/detector.pt)",
    )
    p.add_argument("--handedness", choices=("flip_consistent", "raw"), default="flip_consistent")
    p.add_argument(
        "--detection-mode",
        choices=DETECTION_MODE_CHOICES,
        default=DEFAULT_PHOTO_MODE,
        help=f"detector: 'fast' (MediaPipe's landmarker) or 'thorough' (multi-scale + body search, finds "
        f"more hands, slower; see `fast-hamer detect --help`). Default {DEFAULT_PHOTO_MODE}",
    )
    p.add_argument("--mirrored-input", action="store_true", help="the image is mirrored (selfie camera)")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--intrinsics", metavar="FX,FY,CX,CY", help="camera intrinsics in pixels")
    cam.add_argument(
        "--focal", type=float, metavar="PX", help="focal length in pixels, principal point centred"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSON (default result.json)")
    p.add_argument("--render", type=Path, help="also write an overlay image here")
    p.set_defaults(func=run)


def parse_box(text: str):
    """``"x0,y0,x1,y1[:side]"`` -> Detection with score 1."""
    from fast_hamer_core.types import Detection

    coords, _, side = text.partition(":")
    side = side or "right"
    values = [float(v) for v in coords.split(",")]
    if len(values) != 4 or side not in ("left", "right"):
        raise ValueError(f"bad box {text!r}: expected X0,Y0,X1,Y1[:left|right]")
    if values[2] <= values[0] or values[3] <= values[1]:
        raise ValueError(f"bad box {text!r}: x1 must exceed x0 and y1 must exceed y0")
    return Detection(box=np.array(values), score=1.0, side=side, side_score=1.0)


def camera_for(args: argparse.Namespace, width: int, height: int):
    """Intrinsics from the flags, else the camera the node assumes without CameraInfo."""
    from fast_hamer_core.geometry import PinholeCamera

    if args.intrinsics:
        values = [float(v) for v in args.intrinsics.split(",")]
        if len(values) != 4:
            raise ValueError("--intrinsics takes FX,FY,CX,CY")
        return PinholeCamera(*values, width=width, height=height)
    return PinholeCamera.assumed(width, height, args.focal or 0.0)


#: File suffixes a folder input is searched for (case-insensitive).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def folder_images(folder: Path) -> list[Path]:
    """The images directly in ``folder`` (by suffix), sorted by name; ValueError when there are none."""
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


def run_folder(args: argparse.Namespace) -> int:
    """Every image of the folder ``args.image`` through one reconstructor: ``<out>/<stem>.json``."""
    from tqdm import tqdm

    from fast_hamer_core.pipeline import HandReconstructor

    images = folder_images(args.image)
    out_dir = Path("hands") if args.out == DEFAULT_OUT else args.out
    if out_dir.suffix == ".json":
        raise ValueError(f"--out {out_dir}: with a folder of images, --out is a folder")
    render_dir = args.render
    recon = HandReconstructor.from_options(
        checkpoint=args.checkpoint,
        mano=args.mano,
        detector_model=args.detector_model,
        detector=args.detector,
        device=args.device,
        handedness=args.handedness,
        mirrored_input=args.mirrored_input,
        require_mesh=bool(args.checkpoint),
        detection_mode=args.detection_mode,
    )
    hands = 0
    with recon:
        for image in tqdm(images, desc="infer", unit="image", dynamic_ncols=True):
            args.image, args.out = image, out_dir / f"{image.stem}.json"
            args.render = render_dir / f"{image.stem}.png" if render_dir else None
            hands += run(args, recon)
    log.info("%d hand(s) in %d image(s); results in %s", hands, len(images), out_dir)
    return 0


def run(args: argparse.Namespace, recon=None) -> int:
    """One image (a folder goes to :func:`run_folder`); with ``recon`` given, returns the hand count."""
    import cv2

    from fast_hamer_core.pipeline import HandReconstructor
    from fast_hamer_core.preprocess import read_rgb

    if recon is None and args.image.is_dir():
        return run_folder(args)
    rgb = read_rgb(args.image)
    height, width = rgb.shape[:2]
    camera = camera_for(args, width, height)
    detections = [parse_box(b) for b in args.boxes] if args.boxes else None
    if detections is not None and not args.checkpoint:
        raise ValueError("--boxes needs --checkpoint: landmarks-only mode takes keypoints from the detector")

    t0 = time.perf_counter()
    shared = recon is not None
    if recon is None:
        recon = HandReconstructor.from_options(
            checkpoint=args.checkpoint,
            mano=args.mano,
            detector_model=args.detector_model,
            detector=args.detector,
            device=args.device,
            handedness=args.handedness,
            mirrored_input=args.mirrored_input,
            require_mesh=bool(args.checkpoint),
            detection_mode=args.detection_mode,
        )
    t1 = time.perf_counter()
    with contextlib.nullcontext(recon) if shared else recon:
        results = recon.reconstruct(rgb, camera, detections=detections)
        t2 = time.perf_counter()
        say = log.debug if shared else log.info  # a folder: one progress bar, not two lines per image
        say(
            "%d hand(s) in %s (%s mode, model %s, device %s): load %.0f ms, inference %.0f ms",
            len(results),
            args.image,
            recon.mode,
            recon.model_name,
            recon.device,
            1e3 * (t1 - t0),
            1e3 * (t2 - t1),
        )
        doc = {
            "image": str(args.image),
            "width": width,
            "height": height,
            "camera": {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy},
            "mode": recon.mode,
            "detection_mode": args.detection_mode,
            "model": recon.model_name,
            "units": "metres, camera optical frame (x right, y down, z forward); pixels for 2D",
            "hands": [r.to_dict() for r in results],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1))
        say("wrote %s", args.out)
        if args.render:
            from fast_hamer_core.render import render_overlay

            overlay = render_overlay(rgb, results, camera, faces=recon.faces)
            args.render.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(args.render), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR)):
                raise RuntimeError(f"cannot write {args.render}")
            say("wrote %s", args.render)
    return len(results) if shared else 0
