"""Every parameter of ``hand_mesh_node``, as data: name, default, description, range, choices.

One table serves the node (declarations with descriptors, validation), ``config/hands.yaml``
(which must list exactly these) and the launch file's tests. ``read_only`` parameters are fixed
once the node has started (they choose the model, subscriptions and timers); the others can be
changed at run time with ``ros2 param set`` and are validated: a bad value is rejected with a reason
and the node keeps the old one.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

#: Node name used by the node, the YAML file and the launch file.
NODE_NAME = "hand_mesh_node"

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
#: A TF frame prefix: empty, or ROS name characters ending in "/" or "_" (e.g. "hands/", "cam1_").
_PREFIX_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_/]*[/_])?$")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter. ``range`` bounds ints and floats (inclusive); ``choices`` lists allowed strings."""

    name: str
    default: bool | int | float | str
    description: str
    read_only: bool = False
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None

    def check(self, value) -> str | None:
        """None when ``value`` is acceptable, else the reason it is not."""
        expected = type(self.default)
        if type(value) is not expected:
            return f"{self.name} must be of type {expected.__name__}, got {type(value).__name__} {value!r}"
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            return f"{self.name}={value!r} is out of range [{self.range[0]}, {self.range[1]}]"
        if self.choices is not None and value not in self.choices:
            return f"{self.name}={value!r} is not one of {', '.join(map(repr, self.choices))}"
        if self.name == "device" and not _DEVICE_RE.match(value):
            return f"device={value!r} must be 'auto', 'cpu', 'cuda' or 'cuda:N'"
        if self.name == "default_frame_id" and any(c.isspace() for c in value):
            return f"default_frame_id={value!r} must not contain whitespace"
        if self.name == "tf_prefix" and not _PREFIX_RE.match(value):
            return (
                f"tf_prefix={value!r} must be empty or start with a letter, contain only letters, "
                "digits, '_' and '/', and end with '/' or '_' (e.g. 'hands/')"
            )
        return None


PARAMETERS: tuple[ParamSpec, ...] = (
    # ---- how the node runs
    ParamSpec("managed", False, "Run as a managed (lifecycle) node: it starts unconfigured; `configure` "
              "checks the parameters and loads the models, `activate` subscribes and publishes, "
              "`deactivate` stops (models kept), `cleanup` releases the models. False: the plain node, "
              "which does all of that when it starts.", True),
    # ---- input
    ParamSpec("image_transport", "raw", "'raw': subscribe to `image` (sensor_msgs/Image); 'compressed': "
              "to `image/compressed` (sensor_msgs/CompressedImage, JPEG/PNG).", True,
              choices=("raw", "compressed")),
    ParamSpec("image_qos", "sensor_data", "QoS of the image, camera_info and depth subscriptions: "
              "'sensor_data' (best effort, keep last 1; matches any publisher), 'reliable' (keep last 1), "
              "'system_default'.", True, choices=("sensor_data", "reliable", "system_default")),
    ParamSpec("focal_length_px", 0.0, "Focal length (pixels) used while no CameraInfo has arrived (and "
              "as camera_info_fallback says); 0 = the image's larger side (about a 53 degree field of "
              "view). A warning is logged once when it is used.", range=(0.0, 100000.0)),
    ParamSpec("camera_info_fallback", "last_valid", "What a frame uses while the newest CameraInfo is "
              "refused (non-finite, a focal length or principal point that does not fit the image, K for "
              "another aspect ratio, unknown distortion model): 'last_valid' (the last valid CameraInfo; "
              "focal_length_px before any), 'focal_length_px' (the assumed camera), 'skip_frames' (no "
              "output until a valid CameraInfo arrives). Refusals are warned with the field named.",
              choices=("last_valid", "focal_length_px", "skip_frames")),
    ParamSpec("image_rectified", False, "The `image` topic is rectified (image_proc's image_rect): "
              "intrinsics from CameraInfo P, D ignored. False (a raw image): K and D, lens distortion "
              "(plumb_bob, rational_polynomial, equidistant) is undone for the 3D and applied to the "
              "overlay."),
    ParamSpec("max_image_pixels", 40000000, "Images with more pixels (width*height) are refused before "
              "they are decoded (CompressedImage: the size is read from the PNG/JPEG header).",
              range=(1, 1000000000)),
    ParamSpec("default_frame_id", "", "Frame id given to images whose header.frame_id is empty (warned "
              "once). Empty: such images are refused (their outputs would have no frame)."),
    # ---- models (loaded once)
    ParamSpec("checkpoint", "mobilenetv3_large", "Mesh model: a model name (the newest checkpoint of "
              "that model in the models directory) or a path (a student .pt, a HaMeR / Fast-HaMeR .ckpt "
              "or its run folder). Empty, or a name with no checkpoint yet: landmarks-only mode (21 joints "
              "from the detector lifted to 3D, no mesh, no MANO), said in one log line.", True),
    ParamSpec("mano_path", "", "MANO right-hand model (.npz or the licensed .pkl). Empty: the models "
              "directory ($FAST_HAMER_MODELS or ~/.cache/fast_hamer/models)/mano/.", True),
    ParamSpec("detector", "mediapipe", "Hand detector backend: 'mediapipe' (palm detector + landmarks, "
              "with `detection_mode` and stream tracking) or 'yolo' (an Ultralytics YOLO hand detector such "
              "as WiLoR's: boxes and sides only, so it needs a mesh `checkpoint`; every frame is searched "
              "in full).", True, choices=("mediapipe", "yolo")),
    ParamSpec("detector_model", "", "The detector's model file: MediaPipe's hand_landmarker.task (empty: "
              "$FAST_HAMER_DETECTOR_MODEL, else the models directory's detector/hand_landmarker.task), or "
              "with detector 'yolo' the YOLO .pt weights (required).", True),
    ParamSpec("device", "auto", "Inference device: 'auto' (GPU when available), 'cpu', 'cuda', "
              "'cuda:N'.", True),
    ParamSpec("fp16", True, "Half-precision inference on GPU (ignored on CPU).", True),
    ParamSpec("runtime", "torch", "Network runtime: 'torch' runs `checkpoint`; 'onnxruntime' or "
              "'tensorrt' run `runtime_model` (a file from `fast-hamer export`).", True,
              choices=("torch", "onnxruntime", "tensorrt")),
    ParamSpec("runtime_model", "", "The .onnx file (onnxruntime) or engine (tensorrt) made by "
              "`fast-hamer export`; used when runtime is not 'torch'.", True),
    ParamSpec("handedness", "flip_consistent", "Left/right decision: 'flip_consistent' (image and "
              "mirrored image agree) or 'raw' (the detector's label).", True,
              choices=("flip_consistent", "raw")),
    ParamSpec("mirrored_input", False, "The camera image is mirrored (selfie view): swap sides.", True),
    ParamSpec("detection_mode", "fast", "Hand detector: 'fast' (MediaPipe's landmarker, tens of ms) or "
              "'thorough' (multi-scale palm search + hands from the body, every region re-checked: finds "
              "small, occluded, close-up and gloved hands, but takes 8-9x as long, about 0.4 s per image on "
              "2 CPU cores; for still images or slow cameras, not streams).", True,
              choices=("fast", "thorough")),
    ParamSpec("max_hands", 4, "Most hands detected per image.", True, range=(1, 16)),
    ParamSpec("min_detection_confidence", 0.3, "Detector score threshold.", True, range=(0.0, 1.0)),
    # ---- tracking
    ParamSpec("tracking.enabled", True, "Track ids, stable sides and temporal smoothing across frames "
              "(off: every frame independent, no track ids).", True),
    ParamSpec("tracking.ttl_frames", 5, "Frames a lost track is kept before its id is retired.", True,
              range=(0, 1000)),
    ParamSpec("tracking.smoothing", True, "One-Euro smoothing of joints and rotations.", True),
    ParamSpec("tracking.min_cutoff_hz", 1.0, "One-Euro cutoff at rest (Hz): lower is smoother, more "
              "lag.", True, range=(0.01, 100.0)),
    ParamSpec("tracking.beta", 10.0, "One-Euro speed coefficient (Hz per m/s): higher is less lag when "
              "moving.", True, range=(0.0, 1000.0)),
    ParamSpec("tracking.detect_every", 1, "Photo path (stream.enabled false): run the detector every k "
              "frames and propagate boxes in between (1: every frame). Stream mode schedules its own palm "
              "searches (stream.search_every_frames).", True, range=(1, 30)),
    # ---- live streams
    ParamSpec("stream.enabled", True, "Stream mode, for cameras and videos: the detector follows tracked "
              "hands by their landmarks without a palm search every frame, decides each hand's side once "
              "(a mirror pass for new or uncertain hands), and in mesh mode a hand the detector loses is "
              "carried by the mesh network's own 2D joints (tracking by reconstruction). Off: every image "
              "is searched in full with a mirror pass (photos; `fast-hamer-ros-run` turns it off for "
              "image folders).", True),
    ParamSpec("stream.search_every_frames", 10, "Stream mode: palm search over the whole image every k "
              "frames while hands are tracked (new hands walk in); also whenever a hand is lost or none is "
              "tracked.", True, range=(1, 300)),
    ParamSpec("stream.scan_windows", True, "Stream mode: once per search period the palm detector also "
              "looks at one window of the photo detector's multi-scale search (the padded image for hands "
              "filling the frame, overlapping tiles for small hands, the grey copy for gloved hands), a "
              "different one each time; hands found there need presence 0.8 (0.9 in grey). One extra palm "
              "detector run per period.", True),
    ParamSpec("stream.body_every_frames", 15, "Stream mode: every k frames (in a frame without a palm "
              "search; at once while no hand is tracked) the body models look for people, and each arm's "
              "region that no tracked hand covers is checked by the landmark model (presence 0.8): hands the "
              "palm detector does not see (holding things, gloved, small) at the end of a visible arm. 0: "
              "never; 4k frames while every arm seen has its hand followed. About 27 ms more on that frame "
              "(the body models, one person).", True, range=(0, 300)),
    ParamSpec("stream.lite_palms", True, "Stream mode: every whole-image palm search runs MediaPipe's lite "
              "palm detector too (the photo detector's second palm detector, which sees some hands the full "
              "one misses); about 6 ms more per search.", True),
    ParamSpec("stream.max_unconfirmed_frames", 5, "Stream mode, mesh: frames a hand is carried by "
              "reconstruction without a detection before its track ends.", True, range=(0, 100)),
    ParamSpec("stream.overlap", True, "Stream mode: detect the next frame while the network and "
              "publishing finish this one (two threads; throughput of the slower stage).", True),
    # ---- depth correction
    ParamSpec("depth.enabled", False, "Subscribe to `depth` (aligned to the colour image; 16UC1 mm or "
              "32FC1 m) and move each hand along its camera ray onto the median measured depth under it "
              "(fast_hamer_core.depth).", True),
    ParamSpec("depth.max_time_difference_s", 0.05, "Largest |depth stamp - image stamp| (s) for a depth "
              "image to be used.", range=(0.0, 1.0)),
    ParamSpec("depth.min_samples", 20, "Fewest valid depth pixels under a hand for a correction.",
              range=(1, 1000000)),
    ParamSpec("depth.max_offset_m", 0.3, "Largest correction (m); a larger one is refused (the depth "
              "camera is likely seeing something else).", range=(0.0, 2.0)),
    ParamSpec("depth.surface_offset_m", 0.01, "Landmarks mode: depth of the skin in front of a joint (m).",
              range=(0.0, 0.05)),
    # ---- outputs
    ParamSpec("publish_tf", True, "Broadcast the 21 joint frames of the best hand per side on /tf."),
    ParamSpec("tf_prefix", "", "Prefix of TF frame names: <tf_prefix><side>_<joint>, e.g. 'hands/' -> "
              "'hands/right_wrist'."),
    ParamSpec("publish_markers", True, "Publish hands/markers (when subscribed)."),
    ParamSpec("marker_lifetime_s", 1.0, "Lifetime of each marker (s): a viewer removes a marker not "
              "replaced in that time, so hands vanish when the node stops or stalls. A few frames at the "
              "rate the node publishes (1.0 s suits 5-30 Hz); 0: until deleted.", range=(0.0, 60.0)),
    ParamSpec("publish_openxr", False, "Also publish hands/<side>/openxr_joints: the 26 OpenXR hand "
              "joints (palm, wrist, 4 thumb, 5 per finger) as a PoseArray in OpenXR's order, OpenXR's "
              "joint axes (fast_hamer_core.openxr)."),
    ParamSpec("publish_overlay", True, "Publish hands/overlay (only computed when subscribed)."),
    ParamSpec("overlay_mesh_alpha", 0.6, "Opacity of the mesh in the overlay.", range=(0.0, 1.0)),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics (s).", True, range=(0.1, 60.0)),
)  # fmt: skip

PARAMETERS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in PARAMETERS}


def check_parameter(name: str, value) -> str | None:
    """None when ``value`` is acceptable for parameter ``name``, else the reason."""
    spec = PARAMETERS_BY_NAME.get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    return spec.check(value)


def change_refusal(name: str, value) -> str | None:
    """Why setting ``name`` to ``value`` on a running node is refused (read-only, type, range, choices,
    format), else None. None too for a name that is not in the table (rclpy's own, e.g. use_sim_time)."""
    spec = PARAMETERS_BY_NAME.get(name)
    if spec is None:
        return None
    if spec.read_only:
        return f"{name} is read-only (fixed when the node starts)"
    return spec.check(value)


def unknown_parameter_message(name: str) -> str:
    """The warning for a parameter the node does not declare, with the nearest known name."""
    close = difflib.get_close_matches(name, list(PARAMETERS_BY_NAME), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown parameter {name!r} ignored{hint}"


def descriptor(spec: ParamSpec):
    """The rcl_interfaces ParameterDescriptor of ``spec`` (description, range, read-only)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    types = {
        bool: ParameterType.PARAMETER_BOOL,
        int: ParameterType.PARAMETER_INTEGER,
        float: ParameterType.PARAMETER_DOUBLE,
        str: ParameterType.PARAMETER_STRING,
    }
    desc = ParameterDescriptor(
        name=spec.name, type=types[type(spec.default)], description=spec.description, read_only=spec.read_only
    )
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.range is not None and isinstance(spec.default, float):
        low, high = float(spec.range[0]), float(spec.range[1])
        desc.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    elif spec.range is not None and isinstance(spec.default, int) and not isinstance(spec.default, bool):
        desc.integer_range = [
            IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)
        ]
    return desc
