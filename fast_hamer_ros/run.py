"""``fast-hamer-ros-run``: the pip-only equivalent of ``hands.launch.py`` (no ``launch`` package needed).

Runs ``image_source`` + ``hand_mesh_node`` + ``hands_recorder`` as three processes from the same
``config/hands.yaml`` the launch file uses, in the product's ROS environment
(:func:`fast_hamer_ros.environment.ros_environment`: localhost-only discovery, the shared-memory
FastDDS profile), after making sure ``tf2_msgs`` exists (:mod:`fast_hamer_ros.bootstrap`). Writes the
overlay images, ``overlay.mp4``, ``summary.json`` and each process's log into ``--output``; with
``--record hands.mcap`` also a rosbag2 MCAP of every topic (see :mod:`fast_hamer_ros.recorder`).

The input may be a rosbag2 bag (MCAP or sqlite3): it is played with its own stamps, CameraInfo and
rate in stream mode, with depth correction on when it has an aligned depth topic.

By default frames are fed in lockstep (the next frame once the node answered the previous one), so a
video is processed completely; ``--realtime`` feeds at ``--rate`` and lets the node drop frames as it
would with a live camera.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from fast_hamer_ros.environment import find_data_file, ros_environment
from fast_hamer_ros.parameters import NODE_NAME


def flatten_parameters(tree: dict, prefix: str = "") -> dict:
    """Nested YAML parameters -> ``{"a.b": value}`` (ROS's dotted names)."""
    flat: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten_parameters(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def node_parameters_from_yaml(path: Path) -> dict:
    """The flattened ``ros__parameters`` of ``hand_mesh_node`` in a ROS parameters file."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    for key, section in data.items():
        if str(key).rstrip("/").endswith(NODE_NAME) or key in ("/**", "**"):
            return flatten_parameters((section or {}).get("ros__parameters", {}))
    raise ValueError(f"{path} has no '{NODE_NAME}' (or '/**/{NODE_NAME}') section with ros__parameters")


def ros_argument_value(value) -> str:
    """``value`` as the text of a ``-p name:=VALUE`` argument. rcl reads that text as YAML, so a string
    YAML would read as something else (empty, ``true``, ``1.0``, ``a: b``) is single-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)
    try:
        plain = value.strip() != "" and yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain = False
    return value if plain else "'" + value.replace("'", "''") + "'"


class Processes:
    """Child processes with their logs; stops them all (SIGINT, then SIGKILL) on exit."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env = log_dir, env
        self.procs: dict[str, tuple[subprocess.Popen, object]] = {}

    def start(self, name: str, module: str, ros_args: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        cmd = [sys.executable, "-m", module, "--ros-args", *ros_args]
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.procs[name] = (proc, log)
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, name: str, timeout_s: float = 15.0) -> int | None:
        proc, log = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        return proc.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)


def _read_summary(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fast-hamer-ros-run",
        description="Run image source + hand_mesh_node + recorder (the launch file's composition, for "
        "pip-only installs) on a video, an image folder, a camera or a rosbag2 bag, and record what was "
        "published.",
    )
    parser.add_argument(
        "input", nargs="?", help="video file, image folder or file, /dev/videoN, camera index or rosbag2 bag"
    )
    parser.add_argument("--input", dest="input_option", default=None, help="same as the positional INPUT")
    parser.add_argument(
        "--params-file", type=Path, default=None, help="node parameters (default: config/hands.yaml)"
    )
    parser.add_argument(
        "--checkpoint", default=None, help="mesh checkpoint (default: the YAML's; none = landmarks)"
    )
    parser.add_argument(
        "--mano", default=None, help="MANO model file (default: the YAML's / models directory)"
    )
    parser.add_argument(
        "--detector",
        choices=("mediapipe", "yolo"),
        default=None,
        help="hand detector backend (default: the YAML's, mediapipe); yolo needs --detector-model (the YOLO "
        ".pt weights, e.g. WiLoR's) and a mesh --checkpoint",
    )
    parser.add_argument(
        "--detector-model",
        default=None,
        help="the detector's model file: hand_landmarker.task (default: models directory), or the YOLO .pt "
        "weights with --detector yolo",
    )
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: the YAML's)")
    parser.add_argument("--output", "--out", type=Path, default=Path("hands_output"), help="output folder")
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second fed to the node")
    parser.add_argument(
        "--realtime", action="store_true", help="feed at --rate without waiting (drops frames)"
    )
    parser.add_argument("--loop", action="store_true", help="loop the input until Ctrl-C or --timeout")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: all)")
    parser.add_argument("--resize-width", type=int, default=0, help="scale frames to this width (0: as read)")
    parser.add_argument(
        "--focal-length-px", type=float, default=0.0, help="camera focal length (0: larger side)"
    )
    parser.add_argument(
        "--domain-id",
        type=int,
        default=None,
        help="ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID, else one derived from the process id)",
    )
    parser.add_argument("--timeout", type=float, default=0.0, help="stop after this many seconds (0: none)")
    add_bag_arguments(parser)
    parser.add_argument(
        "--managed",
        action="store_true",
        help="run hand_mesh_node as a lifecycle node (managed:=true) and configure + activate it",
    )
    return parser


def add_bag_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for bag input and bag recording."""
    bag = parser.add_argument_group("rosbag2 bags (input and recording)")
    bag.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="PATH.mcap",
        help="also record every topic (+ input image, CameraInfo) to this rosbag2 MCAP "
        "(relative paths are inside --output)",
    )
    bag.add_argument("--image-topic", default="", help="bag input: colour image topic ('' = the only one)")
    bag.add_argument("--info-topic", default="", help="bag input: CameraInfo topic ('' = next to the image)")
    bag.add_argument(
        "--depth-topic", default="", help="bag input: aligned depth topic ('' = auto, none = no depth)"
    )
    bag.add_argument(
        "--playback-rate", type=float, default=1.0, help="bag input: speed relative to the recording"
    )


def bag_source_parameters(args: argparse.Namespace, overrides: dict) -> dict:
    """image_source parameters for a bag input (opened here once, so that a wrong topic stops the run
    with the bag's topic listing); turns the node's depth correction on when the bag has depth."""
    from fast_hamer_core.bags import BagReader

    with BagReader(args.input, args.image_topic, args.info_topic, args.depth_topic) as bag:
        print(
            f"bag {args.input}: image {bag.image_topic}, camera_info {bag.info_topic or '(none)'}, "
            f"depth {bag.depth_topic or '(none)'}"
        )
        if bag.depth_topic:
            overrides.setdefault("depth.enabled", True)
        return {
            "image_topic": bag.image_topic,
            "info_topic": bag.info_topic or "",
            "depth_topic": bag.depth_topic or "none",
            "playback_rate": float(args.playback_rate),
        }


def recording_path(args: argparse.Namespace, output: Path) -> Path | None:
    """The ``--record`` bag path, relative ones inside the output folder."""
    if args.record is None:
        return None
    path = args.record.expanduser()
    return path if path.is_absolute() else output / path


def input_is_stream(source: str) -> bool:
    """A video file, a camera or a bag is a stream (stream mode); an image folder or one image is photos."""
    from fast_hamer_core.bags import is_bag
    from fast_hamer_core.frames import IMAGE_SUFFIXES

    if source.isdigit() or source.startswith("/dev/video") or is_bag(source):
        return True
    path = Path(source).expanduser()
    return path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES


def node_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The node parameters the command line sets over the params file (flags left out keep the YAML's)."""
    overrides = {
        "checkpoint": args.checkpoint,
        "mano_path": args.mano,
        "detector": args.detector,
        "detector_model": args.detector_model,
        "device": args.device,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.managed:
        overrides["managed"] = True
    return overrides


def run(args: argparse.Namespace) -> int:
    from fast_hamer_ros.bootstrap import ensure_tf2_msgs

    params_file = args.params_file or find_data_file("config/hands.yaml")
    yaml_params = node_parameters_from_yaml(params_file)
    overrides = node_overrides(args)
    checkpoint = overrides.get("checkpoint", yaml_params.get("checkpoint", ""))
    missing_reason = "no mesh checkpoint configured"
    if checkpoint:
        from fast_hamer_core.assets import UntrainedModelError, resolve_checkpoint

        try:  # a model name resolves to the newest checkpoint in the models directory
            checkpoint = str(resolve_checkpoint(checkpoint))
        except UntrainedModelError:
            missing_reason = f"no trained checkpoint for {checkpoint!r} in the models directory"
            checkpoint = ""
        overrides["checkpoint"] = checkpoint
    if not Path(args.input).exists() and not (args.input.isdigit() or args.input.startswith("/dev/video")):
        raise FileNotFoundError(f"input not found: {args.input}")
    stream = input_is_stream(args.input)
    overrides.setdefault("stream.enabled", stream)
    from fast_hamer_core.bags import bag_directory, is_bag

    bag_params = bag_source_parameters(args, overrides) if is_bag(args.input) else {}

    ensure_tf2_msgs(log=lambda line: None)  # quick when present; builds tf2_msgs from the wheels otherwise
    output = args.output.expanduser().resolve()
    (output / "logs").mkdir(parents=True, exist_ok=True)
    record = recording_path(args, output)
    if record is not None and bag_directory(record).exists():
        raise ValueError(f"recording {bag_directory(record)} exists already: choose another --record path")
    env = dict(os.environ)
    # A domain of its own for this run unless the caller chose one (DDS stays on this machine anyway).
    domain_id = args.domain_id
    if domain_id is None and not os.environ.get("ROS_DOMAIN_ID", "").strip():
        domain_id = 1 + os.getpid() % 100
    env.update(ros_environment(domain_id))
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if checkpoint:
        print(f"mesh mode: checkpoint {checkpoint}")
    else:
        print(
            f"landmarks-only mode: {missing_reason} (21 joints from the detector, no mesh); "
            "pass --checkpoint NAME|PATH for hand meshes"
        )
    print(
        "stream mode (a video or camera: hands followed from frame to frame)"
        if overrides["stream.enabled"]
        else "photo mode (every image searched in full)"
    )
    print(f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, localhost-only DDS; outputs in {output}")

    procs = Processes(output / "logs", env)
    summary_path = output / "summary.json"
    summary_path.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        node_args = ["--params-file", str(params_file)]
        for name, value in overrides.items():
            node_args += ["-p", f"{name}:={ros_argument_value(value)}"]
        node = procs.start("hand_mesh_node", "fast_hamer_ros.hand_mesh_node", node_args)
        recorder_args = ["-p", f"output_dir:={output}"]
        if record is not None:
            recorder_args += ["-p", f"record_path:={ros_argument_value(str(record))}"]
        procs.start("hands_recorder", "fast_hamer_ros.recorder", recorder_args)
        if args.managed:  # a lifecycle node: configure and activate it (the recorder is starting meanwhile)
            from fast_hamer_ros.lifecycle_node import ACTIVATE_COMMAND

            if subprocess.run(ACTIVATE_COMMAND, env=env).returncode != 0:
                print(f"hand_mesh_node not activated:\n{procs.log_tail('hand_mesh_node')}", file=sys.stderr)
                return 1
        source_params = {
            "source": str(Path(args.input).expanduser().resolve())
            if Path(args.input).exists()
            else args.input,
            "rate_hz": float(args.rate),
            "loop": bool(args.loop),
            "lockstep": not args.realtime,
            "answer_subscribers": 2,  # this source and the recorder
            "max_frames": int(args.max_frames),
            "resize_width": int(args.resize_width),
            "focal_length_px": float(args.focal_length_px),
            **bag_params,
        }
        source_args = [a for k, v in source_params.items() for a in ("-p", f"{k}:={ros_argument_value(v)}")]
        source = procs.start("image_source", "fast_hamer_ros.image_source", source_args)

        while source.poll() is None:
            if node.poll() is not None:
                print(
                    f"hand_mesh_node exited ({node.returncode}):\n{procs.log_tail('hand_mesh_node')}",
                    file=sys.stderr,
                )
                return 1
            if args.timeout and time.monotonic() - started > args.timeout:
                print(f"stopping after --timeout {args.timeout:.0f} s")
                break
            time.sleep(0.2)
        if source.returncode not in (None, 0):
            print(f"image_source failed:\n{procs.log_tail('image_source')}", file=sys.stderr)
            return 1
        # Let the last answers reach the recorder: wait until its summary stops changing (max 30 s).
        last, stable_since, deadline = None, time.monotonic(), time.monotonic() + 30.0
        while time.monotonic() < deadline and time.monotonic() - stable_since < 2.5:
            now = _read_summary(summary_path).get("message_counts")
            if now != last:
                last, stable_since = now, time.monotonic()
            time.sleep(0.25)
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        procs.stop_all()

    summary = _read_summary(summary_path)
    if not summary:
        print(f"no summary written; see the logs in {output / 'logs'}", file=sys.stderr)
        return 1
    video = " + overlay.mp4" if (output / "overlay.mp4").exists() else ""
    print(
        f"{summary.get('mode')} mode, model {summary.get('model')}, detector {summary.get('detector')} "
        f"({summary.get('pipeline_mode')} mode): "
        f"{summary.get('frames_answered')} frames answered, {summary.get('frames_with_hands')} with hands, "
        f"{len(summary.get('tf_child_frames', []))} TF frames; overlay: {summary.get('overlay_images')} "
        f"images{video}; summary: {summary_path}"
    )
    recording = summary.get("recording")
    if recording:
        total = sum(recording["message_counts"].values())
        print(f"recording: {recording['mcap']} ({total} messages, {len(recording['message_counts'])} topics)")
        print(f"view it in a browser: fast-hamer view {recording['bag']}  (then open the printed URL)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.input is None) == (args.input_option is None):
        parser.error("give the input once: INPUT or --input INPUT")
    args.input = args.input or args.input_option
    try:
        return run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"fast-hamer-ros-run: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
