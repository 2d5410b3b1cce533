"""HandReconstructor: an RGB image (+ camera intrinsics) -> one :class:`HandResult` per hand.

Two modes, decided once at construction:
- ``"mesh"``: detector -> HaMeR crops of every hand -> ONE batched forward of the mesh network -> MANO ->
  un-mirroring of left hands -> full-image camera translation from the real intrinsics.
- ``"landmarks"``: no mesh checkpoint (or no MANO): the detector's 21 keypoints lifted to 3D by PnP.

Two ways to find the hands, also decided at construction (``stream``):
- photos (``stream=False``): every image is searched in full, with a mirror pass for flip-consistent
  sides (:class:`~fast_hamer_core.detection.mediapipe_detector.MediaPipeHandDetector`);
- streams (``stream=True``): the detector keeps per-stream state and follows tracked hands without a palm
  search (:class:`~fast_hamer_core.detection.stream.StreamHandDetector`), and in mesh mode the tracker
  carries a hand the detector loses by the network's own 2D joints (tracking by reconstruction).
  :class:`~fast_hamer_core.stream.StreamPipeline` overlaps :meth:`HandReconstructor.detect` of the next
  frame with :meth:`HandReconstructor.reconstruct` of this one.

All 3D output is in metres in the camera optical frame (see :mod:`fast_hamer_core.types`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
import torch

from fast_hamer_core import geometry
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.preprocess import crop_hands, normalize_crops
from fast_hamer_core.skeleton import JOINT_TO_MANO_ROTATION
from fast_hamer_core.types import Detection, HandResult
from fast_hamer_core.validation import drop_non_finite

log = logging.getLogger(__name__)

#: HaMeR's crop camera: focal length 5000 px at a 256 px crop.
CROP_FOCAL_PX = 5000.0


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is usable, else ``"cpu"``; other values are checked, returned."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available on this machine")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return device


class HandReconstructor:
    """Image -> hands. Construct with parts, or with :meth:`from_options` from file names."""

    def __init__(
        self,
        detector=None,
        model: torch.nn.Module | None = None,
        device: str = "cpu",
        tracker=None,
        fp16: bool = True,
        refine_translation: bool = True,
    ) -> None:
        self.detector = detector
        self.device = resolve_device(device)
        if isinstance(model, torch.nn.Module):
            model = model.to(self.device).eval()
        # Any callable with the HandMeshModel interface works (``__call__(x) -> HaMeR dict``, ``config``,
        # ``mano``): a torch module or a runtime runner (ONNX Runtime, TensorRT) from fast_hamer_core.runtime.
        self.model = model
        if self.model is not None and getattr(self.model, "mano", None) is None:
            raise ValueError("the mesh model has no MANO layer; pass mano= when loading it")
        self.tracker = tracker
        self.fp16 = fp16 and self.device.startswith("cuda")
        self.refine_translation = refine_translation
        self.model_name = getattr(getattr(model, "config", None), "name", "none") if model else "none"
        self.detector_name = type(detector).__name__ if detector is not None else "none"
        from fast_hamer_core.detection.stream import StreamCounts

        self._frame_counts = StreamCounts()  # what a per-image detector ran (the stream one counts itself)
        self._stage1_size: tuple[int, int] | None = None  # image size seen by detect() (stream state)
        self._stage2_size: tuple[int, int] | None = None  # ... and by the tracker in reconstruct()
        self.dropped_non_finite = 0  #: hands dropped because a number in them was NaN / inf

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_options(
        cls,
        checkpoint: str | None = None,
        mano: str | None = None,
        detector_model: str | None = None,
        device: str = "auto",
        handedness: str = "flip_consistent",
        mirrored_input: bool = False,
        max_hands: int | None = None,
        min_detection_confidence: float | None = None,
        tracking: dict | None = None,
        fp16: bool = True,
        runtime: str = "torch",
        runtime_model: str | None = None,
        require_mesh: bool = False,
        stream: bool = False,
        search_every: int = 10,
        max_unconfirmed_frames: int = 5,
        scan_windows: bool = True,
        body_every: int = 15,
        lite_palms: bool = True,
        detector: str = "mediapipe",
        detection_mode: str = "fast",
    ) -> HandReconstructor:
        """Build detector, model and tracker from file names. ``checkpoint=None`` -> landmarks-only mode.

        ``checkpoint`` is a path or a model name (the newest checkpoint of that model in the models
        directory). A name with no checkpoint yet also gives landmarks-only mode, with a warning, unless
        ``require_mesh`` (then the error that says how to get one is raised).

        ``runtime``: ``"torch"`` runs ``checkpoint``; ``"onnxruntime"`` / ``"tensorrt"`` run ``runtime_model``
        (the ``.onnx`` / engine file from ``fast-hamer export``) through :mod:`fast_hamer_core.runtime`.

        ``stream``: a live stream (see the module docstring): the stream detector with a palm search every
        ``search_every`` frames while hands are tracked, and in mesh mode tracking by reconstruction for at
        most ``max_unconfirmed_frames`` frames without a detection; ``scan_windows``: each palm search also
        looks at one window of the photo search (padded image, then tiles, in turn) for close-up and small
        hands; ``body_every``: every that many frames the body models look for hands at people's arms (0:
        never); ``lite_palms``: each whole-image palm search runs the lite palm detector too
        (:class:`~fast_hamer_core.detection.stream.StreamHandDetector`).
        ``detector``: ``"mediapipe"`` (``detector_model`` = its ``.task``, optional) or ``"yolo"``
        (``detector_model`` = the YOLO ``.pt`` weights, e.g. WiLoR's; boxes only, so it needs a mesh model).
        ``detection_mode``: ``"fast"`` (MediaPipe's landmarker) or ``"thorough"`` (multi-scale + body search,
        for photos; :mod:`fast_hamer_core.detection.thorough`; no stream state: every frame is searched in
        full). ``max_hands`` and ``min_detection_confidence`` left ``None`` take that detector's defaults
        (fast: 4 and 0.3; thorough: 20 and 0.5).
        """
        from fast_hamer_core.detection import create_detector
        from fast_hamer_core.tracking import HandTracker

        device = resolve_device(device)
        model = None
        if runtime != "torch":
            from fast_hamer_core.mano import resolve_mano_path
            from fast_hamer_core.runtime import load_runtime_model

            if not runtime_model:
                raise ValueError(f"runtime {runtime!r} needs runtime_model (a file from `fast-hamer export`)")
            model = load_runtime_model(runtime, runtime_model, mano=resolve_mano_path(mano), device=device)
        elif checkpoint:
            from fast_hamer_core.assets import UntrainedModelError, resolve_checkpoint
            from fast_hamer_core.mano import resolve_mano_path
            from fast_hamer_core.models import load_model

            try:
                path = resolve_checkpoint(checkpoint)
            except UntrainedModelError as err:
                if require_mesh:
                    raise
                log.warning("landmarks-only mode (21 joints by PnP, no mesh): %s", err)
            else:
                model = load_model(path, mano_path=resolve_mano_path(mano), device=device)
        else:
            log.info("no mesh checkpoint configured: landmarks-only mode (21 joints by PnP, no mesh)")
        if detector == "yolo":
            if model is None:
                raise ValueError("the yolo detector gives boxes only: it needs a mesh checkpoint")
            if stream:
                log.info("the yolo detector has no stream state: every frame is searched in full")
            backend = {"weights_path": detector_model, "device": device}
        else:
            backend = {"model_path": detector_model, "handedness": handedness}
        thorough = detection_mode == "thorough"
        if thorough:
            from fast_hamer_core.detection import thorough as thorough_module

            default_hands, default_confidence = thorough_module.MAX_HANDS, thorough_module.MIN_PALM_SCORE
        else:
            default_hands, default_confidence = 4, 0.3
        common = {
            "mirrored_input": mirrored_input,
            "max_hands": default_hands if max_hands is None else max_hands,
            "min_detection_confidence": (
                default_confidence if min_detection_confidence is None else min_detection_confidence
            ),
        }
        if stream and detector != "yolo" and not thorough:
            from fast_hamer_core.detection.stream import StreamHandDetector

            hand_detector = StreamHandDetector(
                search_every=search_every,
                scan_windows=scan_windows,
                body_every=body_every,
                lite_palms=lite_palms,
                **backend,
                **common,
            )
        else:
            if stream and thorough:
                log.info("the thorough detector has no stream state: every frame is searched in full")
            hand_detector = create_detector(detector, mode=detection_mode, **backend, **common)
        tracking = dict(tracking or {})
        if stream and model is not None:
            tracking.setdefault("max_unconfirmed_frames", max_unconfirmed_frames)
        tracker = HandTracker(**tracking)
        return cls(detector=hand_detector, model=model, device=device, tracker=tracker, fp16=fp16)

    # ------------------------------------------------------------------ accessors
    @property
    def mode(self) -> str:
        """``"mesh"`` with a mesh model, else ``"landmarks"``."""
        return "mesh" if self.model is not None else "landmarks"

    @property
    def faces(self) -> np.ndarray | None:
        """(1538, 3) MANO triangles of a RIGHT hand; use :func:`faces_for_side` for a left one."""
        return self.model.mano.faces if self.model is not None else None

    @property
    def stream(self) -> bool:
        """Whether the detector keeps per-stream state (stream mode)."""
        return hasattr(self.detector, "counts")

    def detection_counts_raw(self):
        """A copy of the :class:`~fast_hamer_core.detection.stream.StreamCounts` since the last reset (the
        per-image detector searches every frame, and mirrors every frame in flip-consistent mode)."""
        from dataclasses import replace

        return replace(getattr(self.detector, "counts", None) or self._frame_counts)

    def detection_counts(self) -> dict[str, float]:
        """Palm searches, landmark passes and mirror passes per frame since the last reset."""
        counts = self.detection_counts_raw()
        return {"frames": counts.frames, **counts.per_frame()}

    def reset_stream(self) -> None:
        """Forget the stream: the detector's tracked hands (stream mode) and the tracker's tracks."""
        if hasattr(self.detector, "reset"):
            self.detector.reset()
        if self.tracker is not None:
            self.tracker.reset()
        self._stage1_size = self._stage2_size = None

    def reset_detection_counts(self) -> None:
        if hasattr(self.detector, "reset_counts"):
            self.detector.reset_counts()
        from fast_hamer_core.detection.stream import StreamCounts

        self._frame_counts = StreamCounts()

    # ------------------------------------------------------------------ per frame
    def detect(self, image_rgb: np.ndarray, stamp_s: float | None = None) -> list[Detection]:
        """Stage 1: the hands in one RGB uint8 image (the detector's state advances by one frame).

        With a per-image detector and a tracker, ``tracking.detect_every`` may skip the detector and
        propagate the tracks' boxes instead (see :meth:`HandTracker.detections_for_frame`).
        """
        if self.detector is None:
            raise RuntimeError("no detector configured and no detections given")
        if self.stream:
            size = image_rgb.shape[:2]
            if self._stage1_size not in (None, size) and hasattr(self.detector, "reset"):
                self.detector.reset()  # another image size: another stream
            self._stage1_size = size
            return list(self.detector.detect(image_rgb, stamp_s))

        def search() -> list[Detection]:
            c = self._frame_counts
            c.palm_searches += 1
            c.landmark_passes += 1
            c.mirror_passes += int(getattr(self.detector, "handedness", "raw") == "flip_consistent")
            return self.detector.detect(image_rgb)

        self._frame_counts.frames += 1
        if self.tracker is not None and stamp_s is not None:
            return list(self.tracker.detections_for_frame(search))
        return list(search())

    def reconstruct(
        self,
        image_rgb: np.ndarray,
        camera: PinholeCamera,
        stamp_s: float | None = None,
        detections: Sequence[Detection] | None = None,
    ) -> list[HandResult]:
        """Hands in one RGB uint8 (H, W, 3) image seen by ``camera``.

        ``detections`` skips the detector (boxes, sides and scores given by the caller).
        ``stamp_s`` (seconds) drives tracking and smoothing; ``None`` treats every call as a new image.
        A hand with a non-finite number is dropped and counted in :attr:`dropped_non_finite`.
        """
        if detections is None:
            detections = self.detect(image_rgb, stamp_s)
        detections = list(detections)
        track_ids: list[int | None] = [None] * len(detections)
        if self.tracker is not None and stamp_s is not None:
            height, width = image_rgb.shape[:2]
            if self._stage2_size not in (None, (width, height)):
                self.tracker.reset()  # another image size: another stream
            self._stage2_size = (width, height)
            detections, track_ids = self.tracker.assign(detections, stamp_s, image_size=(width, height))
        if not detections:
            results: list[HandResult] = []
        elif self.model is None:
            from fast_hamer_core.detection.lifting import lift_detection

            results = [lift_detection(det, camera) for det in detections]
        else:
            results = self._reconstruct_mesh(image_rgb, camera, detections)
        carried = self.tracker.carried_ids if self.tracker is not None else set()
        for result, track_id in zip(results, track_ids, strict=True):
            result.track_id = track_id
            if track_id in carried:
                result.extras["carried"] = True  # no detection this frame: the mesh's own joints
        if carried and hasattr(self.detector, "hint"):  # let the stream detector look there next frame
            self.detector.hint([r.keypoints_2d for r in results if r.extras.get("carried")])
        if self.tracker is not None and stamp_s is not None:
            results = self.tracker.smooth(results, stamp_s)
        results, dropped = drop_non_finite(results)  # never hand out a NaN / inf (logged there)
        self.dropped_non_finite += dropped
        return results

    __call__ = reconstruct

    @torch.inference_mode()
    def _reconstruct_mesh(
        self, image_rgb: np.ndarray, camera: PinholeCamera, detections: list[Detection]
    ) -> list[HandResult]:
        cfg = self.model.config.preprocess
        boxes = np.stack([det.box for det in detections])  # (N, 4)
        is_right = np.array([det.side == "right" for det in detections])  # (N,)
        crops, transforms = crop_hands(
            image_rgb, boxes, is_right, out_size=cfg.crop_size, rescale=cfg.rescale_factor
        )  # (N, 256, 256, 3) uint8, left hands mirrored
        # uint8 crops go to the device before normalising: 4x less to copy than float32.
        x = normalize_crops(crops, mean=cfg.mean, std=cfg.std, device=self.device)  # (N, 3, 256, 256)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.fp16 else contextlib.nullcontext()
        with autocast:
            out = self.model(x)
        return self._to_results(out, detections, transforms, camera, is_right)

    def _to_results(self, out: dict, detections, transforms, camera, is_right) -> list[HandResult]:
        """Network output (right-hand frame of each crop) -> results in the camera frame, true side."""
        params = out["pred_mano_params"]
        n = len(detections)
        sign = torch.as_tensor(np.where(is_right, 1.0, -1.0), dtype=torch.float32)  # (N,)
        pred_cam = out["pred_cam"].float().cpu().clone()  # (N, 3) [s, tx, ty]
        pred_cam[:, 1] *= sign  # mirror tx of left hands
        joints_rel = out["pred_keypoints_3d"].float().cpu().clone()  # (N, 21, 3) MANO frame
        verts_rel = out["pred_vertices"].float().cpu().clone()  # (N, 778, 3)
        joints_rel[..., 0] *= sign[:, None]
        verts_rel[..., 0] *= sign[:, None]
        crop_size = self.model.config.preprocess.crop_size
        kp2d_crop = (out["pred_keypoints_2d"].float().cpu().numpy() + 0.5) * crop_size  # (N, 21, 2) px

        go = params["global_orient"].float().cpu()  # (N, 1, 3, 3)
        hp = params["hand_pose"].float().cpu()  # (N, 15, 3, 3)
        from fast_hamer_core.mano import global_joint_rotations

        joint_rots = global_joint_rotations(go, hp)  # (N, 16, 3, 3), crop (right-hand) frame
        left = torch.as_tensor(~is_right)
        go = torch.where(left[:, None, None, None], geometry.mirror_rotmat(go), go)
        hp = torch.where(left[:, None, None, None], geometry.mirror_rotmat(hp), hp)
        joint_rots = torch.where(left[:, None, None, None], geometry.mirror_rotmat(joint_rots), joint_rots)
        joint_rots_21 = joint_rots[:, list(JOINT_TO_MANO_ROTATION)]  # (N, 21, 3, 3)

        centers = np.stack([t.center_px for t in transforms])  # (N, 2)
        sizes = np.array([t.size_px for t in transforms], dtype=np.float64)  # (N,)
        cam_t = geometry.cam_crop_to_full(
            pred_cam.numpy().astype(np.float64),
            centers,
            sizes,
            camera,
            crop_focal_px=CROP_FOCAL_PX,
            crop_size_px=crop_size,
        )  # (N, 3) metres
        joints_np = joints_rel.numpy().astype(np.float64)
        if self.refine_translation:
            kp2d_img = np.stack([t.crop_to_image(k) for t, k in zip(transforms, kp2d_crop, strict=True)])
            cam_t = geometry.solve_translation(joints_np, kp2d_img, camera)  # (N, 3)

        go_aa = geometry.rotmat_to_axis_angle(go).numpy()  # (N, 1, 3)
        hp_aa = geometry.rotmat_to_axis_angle(hp).numpy()  # (N, 15, 3)
        betas = params["betas"].float().cpu().numpy()  # (N, 10)
        results = []
        for i in range(n):
            joints_cam = joints_np[i] + cam_t[i]  # (21, 3)
            det = detections[i]
            results.append(
                HandResult(
                    side=det.side,
                    score=float(det.score),
                    box=np.asarray(det.box, dtype=np.float64),
                    keypoints_2d=camera.project(joints_cam),
                    keypoints_3d=joints_cam,
                    joint_rotations=joint_rots_21[i].numpy().astype(np.float64),
                    mode="mesh",
                    cam_t=np.asarray(cam_t[i], dtype=np.float64),
                    vertices=verts_rel[i].numpy().astype(np.float64) + cam_t[i],
                    global_orient=go[i, 0].numpy().astype(np.float64),
                    hand_pose=hp[i].numpy().astype(np.float64),
                    global_orient_aa=go_aa[i, 0].astype(np.float64),
                    hand_pose_aa=hp_aa[i].astype(np.float64),
                    betas=betas[i].astype(np.float64),
                )
            )
        return results

    def fuse_depth(
        self, results: list[HandResult], depth_m: np.ndarray, camera: PinholeCamera, **options
    ) -> list[HandResult]:
        """Each hand moved along its camera ray onto the median measured depth under it
        (:func:`fast_hamer_core.depth.correct_depth`; ``options`` are its keyword arguments)."""
        from fast_hamer_core.depth import correct_depth

        options.setdefault("faces", self.faces)
        return [correct_depth(r, depth_m, camera, **options) for r in results]

    def close(self) -> None:
        """Release the detector's native resources."""
        if self.detector is not None and hasattr(self.detector, "close"):
            self.detector.close()

    def __enter__(self) -> HandReconstructor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def faces_for_side(faces: np.ndarray, side: str) -> np.ndarray:
    """MANO triangles with the winding that faces outwards for ``side`` (mirroring flips the winding)."""
    return faces if side == "right" else faces[:, ::-1].copy()
