"""Play a rosbag2 recording of the node (``hands_recorder`` / ``--record``) into a :class:`HandViewer`.

Reads ``hands/markers``, ``/tf``, ``hands/overlay``, the input image (raw or compressed) and
``camera_info`` in recording order and shows them at the recorded rate (times ``rate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fast_hamer_core.bags import BagReader, decode_color
from fast_hamer_core.viewer.scene import HandScene, camera_from_info

MARKERS, TF, OVERLAY, INFO = "/hands/markers", "/tf", "/hands/overlay", "camera_info"


def play_bag(
    path: str | Path,
    viewer,
    rate: float = 1.0,
    image_topic: str = "",
    on_frame: Callable[[int], None] | None = None,
) -> int:
    """Show the bag once; returns the number of MarkerArrays shown. ``on_frame(n)`` after each one."""
    with BagReader(path, image_topic=image_topic, depth_topic="none", image_required=False) as bag:
        topics = [t for t in bag.topics() if t in (MARKERS, TF, OVERLAY) or t.endswith(INFO)]
        topics += [bag.image_topic] if bag.image_topic else []
        scene, shown, start = HandScene(), 0, None
        for topic, _, log_ns, msg in bag.messages(topics):
            if start is None:
                start = (time.monotonic(), log_ns)
            delay = start[0] + (log_ns - start[1]) / 1e9 / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if topic == MARKERS:
                scene.apply_markers(msg)
                viewer.show_scene(scene)
                shown += 1
                if on_frame is not None:
                    on_frame(shown)
            elif topic == TF:
                scene.apply_tf(msg)
            elif topic == OVERLAY:
                viewer.show_overlay(decode_color(msg))
            elif topic == bag.image_topic:
                viewer.show_image(decode_color(msg))
            elif topic == bag.info_topic or topic.endswith(INFO):
                camera = camera_from_info(msg)
                if camera is not None:
                    viewer.show_camera(camera)
    return shown
