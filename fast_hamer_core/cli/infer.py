"""``fast-hamer infer``: hands in an image, a folder of images or a video -> JSON, and optionally overlays
(with a side view), and each hand's mesh as ``.obj`` + ``.ply`` (metres, camera optical frame).

Photos (an image, a folder) go through the photo path (every image searched in full, thorough detection by
default); a video goes through the stream path (stream detector + tracking: track ids and smoothing)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_hamer_core.cli.detect import DEFAULT_PHOTO_MODE, DETECTION_MODE_CHOICES

log = logging.getLogger("fast_hamer.infer")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="reconstruct the hands in an image, a folder of images or a video",
        description="Reconstruct every hand in an image, a folder of images or a video (stream mode, with "
        "track ids) and write the results as JSON; optionally overlays and the meshes as .obj/.ply. Without "
        "--checkpoint the detector's landmarks are lifted to 3D (landmarks-only mode).",
    )
    p.add_argument(
        "--image",
        "--input",
        dest="image",
        required=True,
        type=Path,
        help="an image (any format OpenCV reads), a folder of images, or a video file",
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
        default=None,
        help=f"detector: 'fast' (MediaPipe's landmarker) or 'thorough' (multi-scale + body search, finds "
        f"more hands, slower; see `fast-hamer detect --help`). Default {DEFAULT_PHOTO_MODE} for photos, "
        "fast for a video",
    )
    p.add_argument("--mirrored-input", action="store_true", help="the image is mirrored (selfie camera)")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--intrinsics", metavar="FX,FY,CX,CY", help="camera intrinsics in pixels")
    cam.add_argument(
        "--focal", type=float, metavar="PX", help="focal length in pixels, principal point centred"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument("--out", type=Path, default=Path("result.json"), help="output JSON (default result.json)")
    p.add_argument("--force", action="store_true", help="replace an existing --out JSON / --render file")
    p.add_argument(
        "--render",
        type=Path,
        help="also write the overlay: an image file for one image; for a folder / video a folder of JPEGs, "
        "or a video file (.mp4, .avi, .mkv, .mov)",
    )
    p.add_argument(
        "--side-view",
        action="store_true",
        help="with --render: draw the meshes seen from the side (turned 90 degrees about the vertical axis, "
        "as HaMeR's demo --side_view) next to each overlay (needs --checkpoint)",
    )
    p.add_argument(
        "--save-mesh",
        type=Path,
        metavar="DIR",
        help="write each hand's mesh as .obj and .ply into DIR, in metres in the camera optical frame, "
        "named <frame>_<side>_track<id> (or _<index> untracked) (needs --checkpoint)",
    )
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


@dataclass
class InferInput:
    """What ``--image`` names: ``kind`` "image" | "folder" | "video", ``count`` frames (None: unknown),
    ``fps`` (videos; 0 otherwise) and ``frames``: (name, RGB uint8) pairs, read lazily."""

    kind: str
    count: int | None
    fps: float
    frames: Iterator[tuple[str, np.ndarray]]


def open_input(path: Path) -> InferInput:
    """The one place that reads infer's input: an image file, a folder of images (name order) or a video.
    Errors name the file (a missing or broken image, a folder without images, an unreadable video)."""
    from fast_hamer_core.frames import IMAGE_SUFFIXES, FrameReader
    from fast_hamer_core.preprocess import read_rgb

    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return InferInput("folder", len(images), 0.0, ((p.stem, read_rgb(p)) for p in images))
    if not path.is_file() or path.suffix.lower() in IMAGE_SUFFIXES:
        return InferInput("image", 1, 0.0, iter([(path.stem, read_rgb(path))]))
    reader = FrameReader(str(path))  # a video (ValueError naming it when OpenCV cannot read it)

    def frames() -> Iterator[tuple[str, np.ndarray]]:
        try:
            for i, rgb in enumerate(reader.frames()):
                yield f"frame{i:06d}", rgb
        finally:
            reader.close()

    return InferInput("video", reader.frame_count, reader.fps or 30.0, frames())


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fast_hamer_core.pipeline import HandReconstructor

    source = open_input(args.image)
    stream = source.kind == "video"
    detection_mode = args.detection_mode or ("fast" if stream else DEFAULT_PHOTO_MODE)
    detections = [parse_box(b) for b in args.boxes] if args.boxes else None
    if detections is not None and not args.checkpoint:
        raise ValueError("--boxes needs --checkpoint: landmarks-only mode takes keypoints from the detector")
    if (args.save_mesh or args.side_view) and not args.checkpoint:
        raise ValueError("--save-mesh and --side-view need --checkpoint: landmarks-only mode has no mesh")
    if args.side_view and not args.render:
        raise ValueError("--side-view draws next to the overlay: give --render too")
    existing = [p for p in (args.out, args.render) if p is not None and p.is_file()]
    if existing and not args.force:
        raise ValueError(
            f"{' and '.join(map(str, existing))} already exist(s); pass --force to replace, or choose --out"
        )

    t0 = time.perf_counter()
    recon = HandReconstructor.from_options(
        checkpoint=args.checkpoint,
        mano=args.mano,
        detector_model=args.detector_model,
        detector=args.detector,
        device=args.device,
        handedness=args.handedness,
        mirrored_input=args.mirrored_input,
        require_mesh=bool(args.checkpoint),
        detection_mode=detection_mode,
        stream=stream,  # a video: hands followed from frame to frame, with track ids
    )
    t1 = time.perf_counter()
    outputs = FrameOutputs(args, source, recon.faces)
    records = []
    with recon:
        progress = tqdm(source.frames, total=source.count, unit="frame", disable=source.kind == "image")
        for index, (name, rgb) in enumerate(progress):
            height, width = rgb.shape[:2]
            camera = camera_for(args, width, height)
            stamp_s = index / source.fps if stream else None
            results = recon.reconstruct(rgb, camera, stamp_s=stamp_s, detections=detections)
            meshes = outputs.write(name, rgb, camera, results)
            records.append(
                {
                    "name": name,
                    "index": index,
                    "stamp_s": stamp_s,
                    "width": width,
                    "height": height,
                    "camera": {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy},
                    "hands": [r.to_dict() for r in results],
                    "meshes": meshes,
                }
            )
        t2 = time.perf_counter()
        outputs.close()
        n_hands = sum(len(r["hands"]) for r in records)
        log.info(
            "%d hand(s) in %d frame(s) of %s %s (%s mode, %s pipeline, model %s, device %s): load %.0f ms, "
            "inference %.0f ms per frame",
            n_hands,
            len(records),
            source.kind,
            args.image,
            recon.mode,
            "stream" if stream else "photo",
            recon.model_name,
            recon.device,
            1e3 * (t1 - t0),
            1e3 * (t2 - t1) / max(1, len(records)),
        )
        common = {
            "mode": recon.mode,
            "detection_mode": detection_mode,
            "pipeline_mode": "stream" if stream else "frame",
            "model": recon.model_name,
            "units": "metres, camera optical frame (x right, y down, z forward); pixels for 2D",
        }
    if source.kind == "image":
        only = records[0]
        doc = {"image": str(args.image), "width": only["width"], "height": only["height"]}
        doc.update(camera=only["camera"], **common, hands=only["hands"], meshes=only["meshes"])
    else:
        doc = {"input": str(args.image), "kind": source.kind, "fps": source.fps or None, **common}
        doc["frames"] = records
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    log.info("wrote %s", args.out)
    return 0


#: Suffixes that make ``--render`` a video for folder / video input (else it is a folder of JPEGs).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".mov")


class FrameOutputs:
    """Per-frame files: the overlay (``--render``, + side view), the meshes (``--save-mesh``)."""

    def __init__(self, args: argparse.Namespace, source: InferInput, faces: np.ndarray | None) -> None:
        self.args, self.source, self.faces = args, source, faces
        self.single = source.kind == "image"
        self._video = None
        render = args.render
        if render is not None and not self.single and render.suffix.lower() not in VIDEO_SUFFIXES:
            render.mkdir(parents=True, exist_ok=True)
        if args.save_mesh:
            args.save_mesh.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, rgb: np.ndarray, camera, results) -> list[str]:
        """Write what was asked for one frame; returns the mesh files written."""
        if self.args.render is not None:
            self._render(name, rgb, camera, results)
        return self._meshes(name, results) if self.args.save_mesh else []

    def _render(self, name: str, rgb: np.ndarray, camera, results) -> None:
        import cv2

        from fast_hamer_core.render import render_overlay, render_side_view

        image = render_overlay(rgb, results, camera, faces=self.faces)
        if self.args.side_view:
            image = np.concatenate([image, render_side_view(results, camera, self.faces)], axis=1)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        render = self.args.render
        if self.single or render.suffix.lower() not in VIDEO_SUFFIXES:
            path = render if self.single else render / f"{name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), bgr):
                raise RuntimeError(f"cannot write {path}")
            if self.single:
                log.info("wrote %s", path)
            return
        if self._video is None:
            render.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(
                *("mp4v" if render.suffix.lower() in (".mp4", ".mov") else "MJPG")
            )
            self._size = (bgr.shape[1], bgr.shape[0])
            self._video = cv2.VideoWriter(str(render), fourcc, self.source.fps or 10.0, self._size)
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
        self._video.write(bgr)

    def _meshes(self, name: str, results) -> list[str]:
        from fast_hamer_core.mesh_io import mesh_stem, write_obj, write_ply
        from fast_hamer_core.pipeline import faces_for_side
        from fast_hamer_core.render import SIDE_COLORS_RGB

        written = []
        for index, hand in enumerate(results):
            if hand.vertices is None:
                continue
            stem = self.args.save_mesh / mesh_stem(name, hand.side, hand.track_id, index)
            faces = faces_for_side(np.asarray(self.faces), hand.side)  # outward winding for this side
            note = f"{hand.side} hand, track {hand.track_id}, score {hand.score:.3f}; metres, camera frame"
            written.append(str(write_obj(stem.with_suffix(".obj"), hand.vertices, faces, comment=note)))
            color = SIDE_COLORS_RGB.get(hand.side, (200, 200, 200))
            written.append(str(write_ply(stem.with_suffix(".ply"), hand.vertices, faces, color)))
        return written

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            log.info("wrote %s", self.args.render)
            self._video = None
        if (
            self.args.render is not None
            and not self.single
            and self.args.render.suffix.lower() not in VIDEO_SUFFIXES
        ):
            log.info("wrote the overlays into %s", self.args.render)
        if self.args.save_mesh:
            log.info("wrote the meshes (.obj + .ply) into %s", self.args.save_mesh)
