"""Helpers of the ROS tests (fixtures in conftest.py): real rclpy, real DDS, separate processes.

Every test that talks DDS gets its own ``ROS_DOMAIN_ID`` (from the pytest process id and a counter),
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and the product's FastDDS profile (shared memory for
images), for its own process and every process it starts. Waits are for conditions (a subscription
matched, a message with a given stamp arrived), bounded by timeouts, never fixed sleeps.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from fixtures.data import HANDS_DIR, REPO_ROOT
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import ParameterType
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Bool
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from fast_hamer_core.skeleton import SIDES
from fast_hamer_ros.environment import ros_environment
from fast_hamer_ros.hand_mesh_node import OVERLAY_QOS
from fast_hamer_ros.image_conversion import rgb_to_image
from fast_hamer_ros.run import ros_argument_value
from fast_hamer_ros.tf_publisher import TF_QOS

PARAMS_FILE = REPO_ROOT / "config" / "hands.yaml"
NODE_START_TIMEOUT_S = 120.0

_domain_counter = itertools.count()


def set_ros_environment(monkeypatch) -> int:
    """Give this test a fresh domain id and the product's ROS environment (children inherit it)."""
    domain = unique_domain_id()
    for key, value in ros_environment(domain).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
    return domain


def unique_domain_id() -> int:
    """A domain id in 1..100, different for each call in this process and likely across processes."""
    return 1 + (os.getpid() * 7 + next(_domain_counter) * 37) % 100


class RosPeer:
    """An rclpy node of the test process in its own context, with helpers to spin until a condition."""

    def __init__(self, domain_id: int, name: str = "test_peer") -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.02) -> bool:
        """Spin until ``condition()`` is true (returns True) or ``timeout_s`` passes (returns False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=poll_s)
        return condition()

    def collect(self, msg_type, topic: str, qos=10) -> list:
        """Subscribe and return the list that received messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


class NodeProcess:
    """A ROS node running in a child process, its output captured to a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mb(self) -> float:
        """Resident memory of the process (MiB)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")

    def stop(self) -> int:
        """SIGINT (clean shutdown), then SIGKILL after 15 s; returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


def hand_mesh_node_command(params: dict[str, object] | None = None) -> list[str]:
    """The command line running ``hand_mesh_node`` with ``config/hands.yaml`` and ``-p name:=value``
    overrides from ``params`` (written by :func:`fast_hamer_ros.run.ros_argument_value`)."""
    args = [
        sys.executable,
        "-m",
        "fast_hamer_ros.hand_mesh_node",
        "--ros-args",
        "--params-file",
        str(PARAMS_FILE),
    ]
    for name, value in (params or {}).items():
        args += ["-p", f"{name}:={ros_argument_value(value)}"]
    return args


@contextmanager
def hand_mesh_node(
    tmp_path: Path, params: dict[str, object] | None = None, extra_args: list[str] | None = None
) -> Iterator[NodeProcess]:
    """``hand_mesh_node`` in a child process with ``config/hands.yaml`` and ``params`` overrides (then
    ``extra_args``, e.g. a second ``--params-file``), in the domain of the current environment (set by
    the ``ros_domain`` fixture)."""
    args = hand_mesh_node_command(params) + list(extra_args or [])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    node = NodeProcess(args, tmp_path / "hand_mesh_node.log", env)
    try:
        yield node
    finally:
        code = node.stop()
        print(f"--- hand_mesh_node exit {code}; log:\n{node.log()[-4000:]}")


@contextmanager
def module_node(tmp_path: Path, module: str, ros_args: list[str], name: str) -> Iterator[NodeProcess]:
    """``python -m module --ros-args *ros_args`` in a child process (log ``<name>.log``), in the domain of
    the current environment; stopped (SIGINT) on exit and its log printed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    node = NodeProcess([sys.executable, "-m", module, "--ros-args", *ros_args], tmp_path / f"{name}.log", env)
    try:
        yield node
    finally:
        code = node.stop()
        print(f"--- {name} exit {code}; log:\n{node.log()[-4000:]}")


def wait_for_subscriber(peer: RosPeer, publisher, node: NodeProcess, timeout_s: float = NODE_START_TIMEOUT_S):
    """Spin until ``publisher`` has a subscriber (the node is up); fail with the node's log if it died."""
    ok = peer.spin_until(lambda: publisher.get_subscription_count() > 0 or not node.alive(), timeout_s)
    assert node.alive(), f"hand_mesh_node exited ({node.proc.returncode}):\n{node.log()[-4000:]}"
    assert ok, (
        f"hand_mesh_node did not subscribe to {publisher.topic_name} in {timeout_s} s:\n{node.log()[-4000:]}"
    )


def load_photo(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a real photo of ../shared/data/hands."""
    bgr = cv2.imread(str(HANDS_DIR / name), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {HANDS_DIR / name}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_message(rgb: np.ndarray, sec: int, nanosec: int = 0, frame_id: str = "camera_optical") -> Image:
    msg = rgb_to_image(rgb)
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = sec, nanosec, frame_id
    return msg


def camera_info(width: int, height: int, frame_id: str = "camera_optical") -> CameraInfo:
    """Intrinsics of a ~55 degree camera with a principal point off the centre (as real cameras)."""
    f = 0.95 * max(width, height)
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = width, height
    info.k = [f, 0.0, width / 2 + 3.5, 0.0, f, height / 2 - 2.5, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, width / 2 + 3.5, 0.0, 0.0, f, height / 2 - 2.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    return info


def stamp_of(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


class Rig:
    """The test side: publishers of image/camera_info/depth and collectors of every output."""

    def __init__(self, peer: RosPeer, node: NodeProcess, compressed: bool = False) -> None:
        self.peer, self.node = peer, node
        n = peer.node
        if compressed:
            self.image_pub = n.create_publisher(CompressedImage, "image/compressed", 1)
        else:
            self.image_pub = n.create_publisher(Image, "image", 1)
        self.info_pub = n.create_publisher(CameraInfo, "camera_info", 1)
        self.depth_pub = n.create_publisher(Image, "depth", 1)
        self.joints = {side: peer.collect(PoseArray, f"hands/{side}/joints") for side in SIDES}
        self.tracked = {side: peer.collect(Bool, f"hands/{side}/tracked") for side in SIDES}
        self.openxr = {side: peer.collect(PoseArray, f"hands/{side}/openxr_joints") for side in SIDES}
        self.mano = {side: peer.collect(JointState, f"hands/{side}/mano") for side in SIDES}
        self.markers = peer.collect(MarkerArray, "hands/markers")
        self.overlay = peer.collect(Image, "hands/overlay", OVERLAY_QOS)
        self.tf = peer.collect(TFMessage, "/tf", TF_QOS)
        self.diagnostics = peer.collect(DiagnosticArray, "/diagnostics")
        self.params = AsyncParameterClient(n, "hand_mesh_node")

    def outputs(self, stamp: tuple[int, int]) -> dict:
        """Everything received so far that carries ``stamp``."""
        return {
            "joints": {s: [m for m in self.joints[s] if stamp_of(m) == stamp] for s in SIDES},
            "mano": {s: [m for m in self.mano[s] if stamp_of(m) == stamp] for s in SIDES},
            "openxr": {s: [m for m in self.openxr[s] if stamp_of(m) == stamp] for s in SIDES},
            "markers": [m for m in self.markers if m.markers and stamp_of(m.markers[0]) == stamp],
            "overlay": [m for m in self.overlay if stamp_of(m) == stamp],
            "tf": [t for m in self.tf for t in m.transforms if stamp_of(t) == stamp],
        }

    def processed(self, stamp: tuple[int, int]) -> bool:
        """The node published its per-frame PoseArrays (one per side, empty without a hand) for ``stamp``."""
        return all(any(stamp_of(m) == stamp for m in self.joints[s]) for s in SIDES)

    def send(self, msg, info: CameraInfo | None = None, timeout_s: float = 60.0) -> dict:
        """Publish ``msg`` (re-sent every 5 s: images travel best effort) until the node has processed it;
        then give the other outputs of that frame a moment to arrive and return them."""
        stamp = stamp_of(msg)
        deadline = time.monotonic() + timeout_s
        while not self.processed(stamp) and time.monotonic() < deadline:
            if info is not None:
                info.header.stamp = msg.header.stamp
                self.info_pub.publish(info)
            self.image_pub.publish(msg)
            self.peer.spin_until(lambda: self.processed(stamp) or not self.node.alive(), min(5.0, timeout_s))
            assert self.node.alive(), f"node died:\n{self.node.log()[-4000:]}"
        assert self.processed(stamp), (
            f"frame {stamp} not processed in {timeout_s} s:\n{self.node.log()[-3000:]}"
        )
        # The overlay is the frame's last output (we subscribe to it, so the node renders it).
        assert self.peer.spin_until(lambda: any(stamp_of(m) == stamp for m in self.overlay), 10.0), (
            "no overlay"
        )
        self.peer.spin_until(lambda: False, 0.1)  # let the other topics' messages of the frame be taken
        return self.outputs(stamp)

    def latest_diagnostics(self, after: float, timeout_s: float = 10.0) -> dict[str, str]:
        """Key/values of the first /diagnostics message received after monotonic time ``after``."""
        start = len(self.diagnostics)
        while time.monotonic() < after:
            self.peer.spin_until(lambda: False, 0.1)
            start = len(self.diagnostics)
        assert self.peer.spin_until(lambda: len(self.diagnostics) > start, timeout_s), "no /diagnostics"
        return {kv.key: kv.value for kv in self.diagnostics[-1].status[0].values}

    def latest_status(self, after: float, timeout_s: float = 10.0):
        """The node's DiagnosticStatus of the first /diagnostics message received after ``after``."""
        self.latest_diagnostics(after, timeout_s)
        return self.diagnostics[-1].status[0]

    def publish_until_logged(self, text: str, msg, info: CameraInfo | None = None, timeout_s: float = 30.0):
        """Publish ``msg`` (and ``info`` first) until the node's log contains ``text``; else fail."""
        deadline = time.monotonic() + timeout_s
        while text not in self.node.log() and time.monotonic() < deadline:
            if info is not None:
                self.info_pub.publish(info)
            self.image_pub.publish(msg)
            self.peer.spin_until(lambda: text in self.node.log(), 1.0)
        assert text in self.node.log(), f"no {text!r} in the log:\n{self.node.log()[-3000:]}"

    def set_parameter(self, name: str, value):
        assert self.params.wait_for_services(timeout_sec=30.0), "parameter services not available"
        future = self.params.set_parameters([Parameter(name, value=value)])
        assert self.peer.spin_until(future.done, 15.0), "set_parameters did not answer"
        return future.result().results[0]

    def get_parameter(self, name: str):
        future = self.params.get_parameters([name])
        assert self.peer.spin_until(future.done, 15.0), "get_parameters did not answer"
        value = future.result().values[0]
        return {
            ParameterType.PARAMETER_DOUBLE: value.double_value,
            ParameterType.PARAMETER_STRING: value.string_value,
            ParameterType.PARAMETER_INTEGER: value.integer_value,
            ParameterType.PARAMETER_BOOL: value.bool_value,
        }[value.type]


@contextmanager
def node_rig(
    tmp_path: Path,
    params: dict[str, object] | None = None,
    compressed: bool = False,
    extra_args: list[str] | None = None,
) -> Iterator[Rig]:
    """``hand_mesh_node`` in a child process in a DDS domain of its own, and the test side's :class:`Rig`
    connected to it (the node has subscribed to the image): what every node test module's fixture needs."""
    with pytest.MonkeyPatch.context() as mp:
        domain = set_ros_environment(mp)
        with hand_mesh_node(tmp_path, params, extra_args=extra_args) as node:
            peer = RosPeer(domain)
            try:
                rig = Rig(peer, node, compressed=compressed)
                wait_for_subscriber(peer, rig.image_pub, node)
                yield rig
            finally:
                peer.close()
