"""``fast-hamer view BAG``: play a recording of the node in the browser 3D viewer (no ROS, no RViz)."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path

log = logging.getLogger("fast_hamer.view")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="play a recording (rosbag2 MCAP / sqlite3) in the browser 3D viewer",
        description="Serve a 3D viewer (viser, works offline) and play a bag recorded by hands_recorder / "
        "`fast-hamer-ros-run --record`: the input image with the overlay, hand meshes, skeletons, joint TF "
        "axes, sides and track ids in the camera frame. Open the printed URL in a browser.",
    )
    p.add_argument("bag", type=Path, help="rosbag2 bag: its folder, or the .mcap / .db3 file")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: other machines)")
    p.add_argument("--port", type=int, default=8080, help="port (the next free one if taken)")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed relative to the recording")
    p.add_argument("--loop", action="store_true", help="play the bag again and again until Ctrl-C")
    p.add_argument("--image-topic", default="", help="input image topic ('' = the only one)")
    p.add_argument("--image-depth", type=float, default=2.0, help="distance of the image in the 3D view (m)")
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="instead of serving until Ctrl-C: open the viewer in headless Chromium, save a screenshot "
        "after --after frames and exit",
    )
    p.add_argument("--after", type=int, default=3, help="frames shown before the screenshot")
    p.add_argument("--size", default="1280x960", help="screenshot size WxH (CSS pixels)")
    p.add_argument("--no-panel", action="store_true", help="start with the control panel minimised")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core.bags import BagReader
    from fast_hamer_core.viewer.playback import play_bag
    from fast_hamer_core.viewer.viser_view import HandViewer

    if args.rate <= 0:
        raise ValueError(f"--rate must be positive, got {args.rate}")
    with BagReader(args.bag, image_topic=args.image_topic, depth_topic="none", image_required=False) as bag:
        if "/hands/markers" not in bag.topics():
            raise ValueError(
                f"{args.bag} has no /hands/markers (not a recording of the node?)\n{bag.listing()}"
            )
    viewer = HandViewer(args.host, args.port, image_depth_m=args.image_depth, panel=not args.no_panel)
    print(f"viewer: {viewer.url}  (open it in a browser; Ctrl-C to stop)", flush=True)
    try:
        if args.screenshot is None:
            while True:
                shown = play_bag(args.bag, viewer, rate=args.rate, image_topic=args.image_topic)
                log.info("played %s: %d frames", args.bag, shown)
                if not args.loop:
                    print("end of the bag; the last frame stays on screen (Ctrl-C to stop)", flush=True)
                    while True:
                        time.sleep(1.0)
        return _screenshot(args, viewer, play_bag)
    except KeyboardInterrupt:
        return 0
    finally:
        viewer.close()


def _screenshot(args: argparse.Namespace, viewer, play_bag) -> int:
    """Play the bag (looping) once a browser is connected; screenshot after ``--after`` frames."""
    from fast_hamer_core.viewer.browser import screenshot

    width, _, height = args.size.partition("x")
    size = (int(width), int(height))
    stop = threading.Event()

    def player() -> None:
        while not viewer.server.get_clients() and not stop.is_set():
            time.sleep(0.05)
        while not stop.is_set():
            play_bag(args.bag, viewer, rate=args.rate, image_topic=args.image_topic)
            if not args.loop:
                return

    thread = threading.Thread(target=player, daemon=True)
    thread.start()
    try:
        screenshot(viewer.url, args.screenshot, size=size, ready=lambda: viewer.updates >= args.after)
    finally:
        stop.set()
    print(f"screenshot after {viewer.updates} frames: {args.screenshot}", flush=True)
    return 0
