"""``fast-hamer-ros-soak``: a soak benchmark of ``hand_mesh_node`` over real DDS (not a test).

Starts the node in a child process (its own ``ROS_DOMAIN_ID``, localhost discovery, the product's
FastDDS profile), publishes ``--frames`` images at ``--rate`` Hz like a camera (each with its own stamp),
and listens to ``hands/right/joints`` (one PoseArray per processed frame, empty without a hand).
Prints, every ``--report-every`` frames, the node's resident memory and its /diagnostics counters;
at the end a table of latency percentiles (publish -> PoseArray received) and where every frame went
(processed, overwritten in the node because inference was busy, lost before the node).

Example: ``fast-hamer-ros-soak --frames 10000 --rate 30 --image photo.jpg``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fast_hamer_ros.environment import find_data_file, ros_environment
from fast_hamer_ros.run import ros_argument_value

NODE_START_TIMEOUT_S = 120.0


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` (MiB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fast-hamer-ros-soak",
        description="Soak benchmark: push frames through hand_mesh_node over DDS at a camera rate; print "
        "its memory every N frames, latency percentiles and drops.",
    )
    parser.add_argument("--frames", type=int, default=10000, help="frames to publish (default 10000)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--image", type=Path, default=None, help="image to send (default: a noise image)")
    parser.add_argument("--width", type=int, default=640, help="width of the noise image")
    parser.add_argument("--height", type=int, default=480, help="height of the noise image")
    parser.add_argument("--checkpoint", default="", help="mesh checkpoint ('' = landmarks-only mode)")
    parser.add_argument("--mano", default="", help="MANO model (mesh mode)")
    parser.add_argument("--detector-model", default="", help="hand_landmarker.task (default: models dir)")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--report-every", type=int, default=1000, help="frames between memory lines")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: from the pid)")
    parser.add_argument("--log", type=Path, default=None, help="node log file (default: a temporary file)")
    return parser


def _load_image(args) -> np.ndarray:
    if args.image is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    from fast_hamer_core.image_io import read_rgb

    return read_rgb(args.image)


def _node_command(args) -> list[str]:
    params = {"checkpoint": args.checkpoint, "device": args.device}
    if args.mano:
        params["mano_path"] = args.mano
    if args.detector_model:
        params["detector_model"] = args.detector_model
    cmd = [sys.executable, "-m", "fast_hamer_ros.hand_mesh_node", "--ros-args"]
    cmd += ["--params-file", str(find_data_file("config/hands.yaml"))]
    for name, value in params.items():
        cmd += ["-p", f"{name}:={ros_argument_value(value)}"]
    return cmd


def _percentiles_ms(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {k: float("nan") for k in ("p50", "p90", "p99", "max")}
    lat = np.asarray(latencies_s) * 1e3
    p50, p90, p99 = np.percentile(lat, [50, 90, 99]).tolist()
    return {"p50": p50, "p90": p90, "p99": p99, "max": float(lat.max())}


def run_soak(args) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from fast_hamer_ros.image_conversion import rgb_to_image

    rgb = _load_image(args)
    domain = args.domain_id if args.domain_id is not None else 1 + os.getpid() % 100
    env = dict(os.environ)
    env.update(ros_environment(domain))
    env["PYTHONUNBUFFERED"] = "1"
    os.environ.update(ros_environment(domain))
    log_path = args.log or Path(tempfile.mkstemp(prefix="soak_node_", suffix=".log")[1])
    log = log_path.open("w")
    node_proc = subprocess.Popen(
        _node_command(args), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    rclpy.init(domain_id=domain)
    peer = rclpy.create_node("fast_hamer_soak")
    executor = SingleThreadedExecutor()
    executor.add_node(peer)
    sent_at: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    diagnostics: dict[str, str] = {}

    def on_joints(msg) -> None:
        t = sent_at.pop((msg.header.stamp.sec, msg.header.stamp.nanosec), None)
        if t is not None:
            latencies.append(time.monotonic() - t)

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.name.endswith("hand pipeline"):
                diagnostics.clear()
                diagnostics.update({kv.key: kv.value for kv in status.values})

    pub = peer.create_publisher(Image, "image", 1)
    peer.create_subscription(PoseArray, "hands/right/joints", on_joints, 100)
    peer.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    try:
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while pub.get_subscription_count() == 0:
            if node_proc.poll() is not None or time.monotonic() > deadline:
                print(f"hand_mesh_node did not start; its log ({log_path}):", file=sys.stderr)
                print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
                return 1
            executor.spin_once(timeout_sec=0.1)
        msg = rgb_to_image(rgb)
        msg.header.frame_id = "camera_optical"
        h, w = rgb.shape[:2]
        print(
            f"soak: {args.frames} frames of {w}x{h} at {args.rate:g} Hz through hand_mesh_node "
            f"(pid {node_proc.pid}, checkpoint {args.checkpoint or 'none: landmarks'}, device {args.device})"
        )
        columns = ("frames", "elapsed_s", "node_rss_mib", "processed", "dropped", "lost")
        print(" ".join(f"{c:>{n}}" for c, n in zip(columns, (8, 10, 13, 10, 8, 6), strict=True)))
        rss_start = rss_mib(node_proc.pid)
        rss_peak = rss_start
        start = time.monotonic()
        for i in range(args.frames):
            target = start + i / args.rate
            while True:
                now = time.monotonic()
                if now >= target:
                    break
                executor.spin_once(timeout_sec=min(0.005, target - now))
            msg.header.stamp.sec, msg.header.stamp.nanosec = 1_000_000 + i // 1000, (i % 1000) * 1000
            sent_at[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = time.monotonic()
            pub.publish(msg)
            if (i + 1) % args.report_every == 0:
                rss = rss_mib(node_proc.pid)
                rss_peak = max(rss_peak, rss)
                d = diagnostics
                print(
                    f"{i + 1:>8} {time.monotonic() - start:>10.1f} {rss:>13.1f} "
                    f"{d.get('frames_processed', '?'):>10} {d.get('frames_dropped', '?'):>8} "
                    f"{d.get('frames_lost_before_node', '?'):>6}",
                    flush=True,
                )
            if node_proc.poll() is not None:
                print(f"hand_mesh_node exited ({node_proc.returncode}) after {i + 1} frames", file=sys.stderr)
                return 1
        elapsed = time.monotonic() - start
        end = time.monotonic() + 5.0
        while time.monotonic() < end:  # the last outputs and a /diagnostics after the last frame
            executor.spin_once(timeout_sec=0.05)
        rss_end = rss_mib(node_proc.pid)
        d = diagnostics
        pct = _percentiles_ms(latencies)
        print()
        print(
            "| frames sent | rate Hz (asked / achieved) | processed | dropped in node | lost before node |"
            " latency p50 / p90 / p99 / max ms | node RSS MiB start / end / peak |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| {args.frames} | {args.rate:g} / {args.frames / elapsed:.1f} | {len(latencies)} "
            f"| {d.get('frames_dropped', '?')} | {d.get('frames_lost_before_node', '?')} "
            f"| {pct['p50']:.1f} / {pct['p90']:.1f} / {pct['p99']:.1f} / {pct['max']:.1f} "
            f"| {rss_start:.0f} / {rss_end:.0f} / {max(rss_peak, rss_end):.0f} |"
        )
        print(f"node /diagnostics at the end: {d}")
        return 0
    finally:
        peer.destroy_node()
        rclpy.shutdown()
        if node_proc.poll() is None:
            node_proc.send_signal(signal.SIGINT)
            try:
                node_proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node_proc.kill()
                node_proc.wait(timeout=10)
        log.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.frames < 1 or args.rate <= 0 or args.report_every < 1:
        print(
            "fast-hamer-ros-soak: error: --frames, --rate and --report-every must be positive",
            file=sys.stderr,
        )
        return 2
    try:
        return run_soak(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"fast-hamer-ros-soak: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
