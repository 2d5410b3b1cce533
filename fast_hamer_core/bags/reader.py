"""Read a rosbag2 bag (a folder with ``metadata.yaml``, or one ``.mcap`` / ``.db3`` file) with ``rosbags``.

:class:`BagReader` picks the colour image topic (raw ``sensor_msgs/Image`` or ``CompressedImage``), its
``CameraInfo`` and, when present, an aligned depth topic, and yields :class:`BagFrame` in recording
order with the bag's own header stamps and log times (so a player keeps the recorded rate). When a
choice is ambiguous or a named topic is missing, :class:`BagError` lists the bag's topics.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_hamer_core.bags.images import decode_color, decode_depth_m
from fast_hamer_core.geometry import PinholeCamera

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
#: File suffixes of single-file bags.
BAG_SUFFIXES: tuple[str, ...] = (".mcap", ".db3")
#: Topics this project publishes: never taken as the input colour image.
OUTPUT_IMAGE_TOPICS: tuple[str, ...] = ("/hands/overlay", "hands/overlay")
#: Topic parameter value that turns the depth topic off.
NO_TOPIC = "none"


class BagError(ValueError):
    """A bag that cannot be played as asked; the message lists the bag's topics where that helps."""


@functools.cache
def typestore():
    """The ``rosbags`` typestore of ROS 2 Jazzy (sensor_msgs, geometry_msgs, visualization_msgs,
    tf2_msgs, diagnostic_msgs ... with their message definitions and RIHS01 hashes)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def is_bag(source: str | Path) -> bool:
    """True for a rosbag2 folder (has ``metadata.yaml``) or a ``.mcap`` / ``.db3`` file."""
    path = Path(source).expanduser()
    if path.is_dir():
        return (path / "metadata.yaml").is_file()
    return path.is_file() and path.suffix.lower() in BAG_SUFFIXES


def stamp_ns(header) -> int:
    """A ROS header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class BagFrame:
    """One colour image of a bag with what belongs to it.

    ``stamp_ns``: the image header's stamp; ``log_time_ns``: when it was recorded (for the playback rate);
    ``rgb`` (H, W, 3) uint8; ``camera``: intrinsics of the latest CameraInfo (None without one);
    ``depth_m``: the aligned depth image in metres (NaN = none) within the stamp tolerance, else None.
    ``info_cdr`` / ``depth_cdr``: those messages as serialised CDR, to republish them unchanged."""

    stamp_ns: int
    log_time_ns: int
    frame_id: str
    rgb: np.ndarray
    camera: PinholeCamera | None = None
    depth_m: np.ndarray | None = None
    info_cdr: bytes | None = None
    depth_cdr: bytes | None = None

    @property
    def stamp(self) -> tuple[int, int]:
        """(sec, nanosec) of :attr:`stamp_ns`."""
        return divmod(self.stamp_ns, 1_000_000_000)


class BagReader:
    """A rosbag2 bag opened for reading (a context manager; :meth:`close` releases it).

    ``image_topic`` / ``info_topic`` / ``depth_topic``: "" = choose automatically (the one colour image
    topic; the CameraInfo next to it; the one topic named ``*depth*``), a name = that topic,
    ``"none"`` (depth only) = no depth. ``depth_tolerance_s``: largest |depth stamp - image stamp|.
    ``image_required`` False: a bag without a colour image topic opens (``image_topic`` None)."""

    def __init__(
        self,
        path: str | Path,
        image_topic: str = "",
        info_topic: str = "",
        depth_topic: str = "",
        depth_tolerance_s: float = 0.05,
        image_required: bool = True,
    ) -> None:
        from rosbags.rosbag2 import Reader

        self.path = Path(path).expanduser()
        if not is_bag(self.path):
            raise BagError(f"{self.path} is not a rosbag2 bag (a folder with metadata.yaml, or .mcap / .db3)")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # rosbags raises its own errors for broken files
            raise BagError(f"cannot open bag {self.path}: {exc}") from exc
        self.depth_tolerance_ns = int(depth_tolerance_s * 1e9)
        self.image_required = bool(image_required)
        self.image_topic = self._choose_image(image_topic)
        self.info_topic = self._choose_info(info_topic)
        self.depth_topic = self._choose_depth(depth_topic)

    # ------------------------------------------------------------------ topics
    def topics(self) -> dict[str, tuple[str, int]]:
        """topic -> (message type, message count)."""
        return {name: (info.msgtype or "?", int(info.msgcount)) for name, info in self._reader.topics.items()}

    def listing(self) -> str:
        """The bag's topics, one a line (for error messages and ``--list-topics``)."""
        rows = [
            f"  {name}  [{kind}]  {count} messages" for name, (kind, count) in sorted(self.topics().items())
        ]
        return f"topics of {self.path}:\n" + "\n".join(rows or ["  (none)"])

    def _of_type(self, *kinds: str) -> list[str]:
        return sorted(name for name, (kind, _) in self.topics().items() if kind in kinds)

    def _named(self, topic: str, kinds: tuple[str, ...], role: str) -> str:
        candidates = {t.lstrip("/"): t for t in self._of_type(*kinds)}
        if topic.lstrip("/") not in candidates:
            raise BagError(
                f"{role} topic {topic!r} is not in the bag as {' or '.join(kinds)}\n{self.listing()}"
            )
        return candidates[topic.lstrip("/")]

    def _choose_image(self, topic: str) -> str | None:
        kinds = (IMAGE_TYPE, COMPRESSED_TYPE)
        if topic:
            return self._named(topic, kinds, "image")
        candidates = [
            t for t in self._of_type(*kinds) if "depth" not in t.lower() and t not in OUTPUT_IMAGE_TOPICS
        ]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates and not self.image_required:
            return None
        if not candidates:
            raise BagError(f"no colour image topic (Image or CompressedImage) in the bag\n{self.listing()}")
        raise BagError(
            f"{len(candidates)} colour image topics in the bag ({', '.join(candidates)}): choose one "
            f"with image_topic:=... (CLI: --image-topic)\n{self.listing()}"
        )

    def _choose_info(self, topic: str) -> str | None:
        if topic:
            return self._named(topic, (INFO_TYPE,), "camera_info")
        candidates = self._of_type(INFO_TYPE)
        if len(candidates) <= 1 or self.image_topic is None:
            return candidates[0] if candidates else None
        # Several cameras: the CameraInfo in the image's namespace (…/color/image_raw -> …/color/camera_info).
        namespace = self.image_topic.rsplit("/", 1)[0]
        if namespace.endswith("/compressed") or self.image_topic.endswith("/compressed"):
            namespace = self.image_topic.rsplit("/", 2)[0]
        near = [t for t in candidates if t.rsplit("/", 1)[0] == namespace]
        if len(near) == 1:
            return near[0]
        raise BagError(
            f"{len(candidates)} CameraInfo topics and none next to {self.image_topic}: choose one with "
            f"info_topic:=... (CLI: --info-topic)\n{self.listing()}"
        )

    def _choose_depth(self, topic: str) -> str | None:
        if topic == NO_TOPIC:
            return None
        if topic:
            return self._named(topic, (IMAGE_TYPE,), "depth")
        candidates = [t for t in self._of_type(IMAGE_TYPE) if "depth" in t.lower()]
        aligned = [t for t in candidates if "aligned" in t.lower()]
        for group in (aligned, candidates):
            if len(group) == 1:
                return group[0]
        if candidates:
            raise BagError(
                f"{len(candidates)} depth topics in the bag ({', '.join(candidates)}): choose one with "
                f"depth_topic:=... or turn depth off with depth_topic:=none\n{self.listing()}"
            )
        return None

    # ------------------------------------------------------------------ messages
    def _connections(self, topics: set[str]) -> list:
        return [c for c in self._reader.connections if c.topic in topics]

    def deserialize(self, raw: bytes, msgtype: str):
        """CDR bytes of ``msgtype`` -> a ``rosbags`` message object (same field names as rclpy's)."""
        store = typestore()
        if msgtype not in store.types:
            raise BagError(f"message type {msgtype} is not in the ROS 2 Jazzy typestore")
        return store.deserialize_cdr(raw, msgtype)

    def messages(self, topics: list[str] | None = None) -> Iterator[tuple[str, str, int, object]]:
        """(topic, message type, log time ns, message) in recording order; types the typestore lacks are
        skipped. ``topics`` None = all."""
        wanted = set(topics) if topics is not None else {c.topic for c in self._reader.connections}
        known = typestore().types
        conns = [c for c in self._connections(wanted) if c.msgtype in known]
        for conn, log_ns, raw in self._reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, int(log_ns), self.deserialize(raw, conn.msgtype)

    def frames(self) -> Iterator[BagFrame]:
        """The colour images as :class:`BagFrame`, in recording order, each with the latest CameraInfo and
        the depth image whose stamp is nearest (within the tolerance; it may be recorded just after)."""
        topics = {self.image_topic} | {t for t in (self.info_topic, self.depth_topic) if t}
        depths: deque[tuple[int, object, bytes]] = deque(maxlen=32)  # (stamp ns, msg, cdr)
        pending: deque[BagFrame] = deque()
        info, info_cdr = None, None
        for conn, log_ns, raw in self._reader.messages(connections=self._connections(topics)):
            msg = self.deserialize(raw, conn.msgtype)
            if conn.topic == self.info_topic:
                info, info_cdr = msg, bytes(raw)
                continue
            if conn.topic == self.depth_topic:
                depths.append((stamp_ns(msg.header), msg, bytes(raw)))
            else:
                pending.append(self._frame(msg, int(log_ns), info, info_cdr))
            while pending and self._settled(pending[0], depths, int(log_ns)):
                yield self._with_depth(pending.popleft(), depths)
        while pending:
            yield self._with_depth(pending.popleft(), depths)

    def _frame(self, msg, log_ns: int, info, info_cdr: bytes | None) -> BagFrame:
        try:
            rgb = decode_color(msg)
        except ValueError as exc:
            raise BagError(f"{self.image_topic} at {stamp_ns(msg.header)} ns: {exc}") from exc
        camera = None
        if info is not None and float(info.k[0]) > 0:
            camera = PinholeCamera.from_k(
                np.asarray(info.k), int(info.width) or rgb.shape[1], int(info.height) or rgb.shape[0]
            )
        return BagFrame(stamp_ns(msg.header), log_ns, str(msg.header.frame_id), rgb, camera, None, info_cdr)

    def _settled(self, frame: BagFrame, depths, now_log_ns: int) -> bool:
        """A frame may go once no later depth message can match it better."""
        if self.depth_topic is None:
            return True
        if depths and depths[-1][0] >= frame.stamp_ns:
            return True
        return now_log_ns - frame.log_time_ns > self.depth_tolerance_ns

    def _with_depth(self, frame: BagFrame, depths) -> BagFrame:
        if not depths:
            return frame
        stamp, msg, cdr = min(depths, key=lambda d: abs(d[0] - frame.stamp_ns))
        if abs(stamp - frame.stamp_ns) <= self.depth_tolerance_ns:
            frame.depth_m, frame.depth_cdr = decode_depth_m(msg), cdr
        return frame

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
