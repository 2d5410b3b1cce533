"""Write a rosbag2 MCAP bag with ``rosbags`` (readable by ``ros2 bag``, Foxglove and ``rosbags``).

A rosbag2 bag is a folder: :func:`bag_directory` maps ``out.mcap`` or ``out`` to the folder ``out``,
which holds ``out.mcap`` and ``metadata.yaml``. Messages go in as serialised CDR (what rclpy's raw
subscriptions deliver) or as ``rosbags`` message objects; message types come from the Jazzy typestore
(:func:`fast_hamer_core.bags.reader.typestore`), which carries their definitions for the MCAP schema.
"""

from __future__ import annotations

from pathlib import Path

from fast_hamer_core.bags.reader import typestore


def bag_directory(path: str | Path) -> Path:
    """The rosbag2 folder for ``path``: ``x.mcap`` -> ``x`` (it then holds ``x/x.mcap``), ``x`` -> ``x``."""
    path = Path(path).expanduser()
    return path.with_suffix("") if path.suffix.lower() == ".mcap" else path


class BagWriter:
    """An MCAP rosbag2 bag being written (a context manager; :meth:`close` writes ``metadata.yaml``).

    Refuses to overwrite an existing bag (a clear ``FileExistsError``)."""

    def __init__(self, path: str | Path) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = bag_directory(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already: choose another recording path or remove it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    @property
    def mcap_file(self) -> Path:
        """The ``.mcap`` file inside the bag folder."""
        return self.path / f"{self.path.name}.mcap"

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Register ``topic`` with ``msgtype`` (``pkg/msg/Name``); again with the same type is a no-op."""
        if topic in self._connections:
            return
        store = typestore()
        if msgtype not in store.types:
            raise ValueError(f"message type {msgtype} is not in the ROS 2 Jazzy typestore")
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=store)
        self.counts[topic] = 0

    def write_cdr(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """One serialised message (CDR with its encapsulation header) on a registered topic."""
        self._writer.write(self._connections[topic], int(log_time_ns), data)
        self.counts[topic] += 1

    def write(self, topic: str, msgtype: str, log_time_ns: int, msg) -> None:
        """One ``rosbags`` message object (the topic is registered on first use)."""
        self.add_topic(topic, msgtype)
        self.write_cdr(topic, log_time_ns, bytes(typestore().serialize_cdr(msg, msgtype)))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
