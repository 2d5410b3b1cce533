"""``python -m fast_hamer_core.bench.retarget``: dex-retargeting's solve time per frame on real hands.

The human joints come from a real video (default: the project's webcam clip) through
:class:`~fast_hamer_core.pipeline.HandReconstructor` (landmarks mode unless ``--checkpoint``), computed
once; then every requested robot config retargets the same joint sequence (each hand's own side, warm
started from the previous frame as in a live stream) and the table gives the optimiser's time per frame
(:attr:`HandRetargeter.times`: only dex-retargeting's ``retarget`` call, the wrist-frame conversion
excluded; it is a few microseconds). Robot URDFs come from ``--urdf-dir`` (a dexsuite/dex-urdf checkout's
``robots/hands``) or, for ``--config``, your own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fast_hamer_core.retarget import RETARGETING_TYPES, ROBOTS, HandRetargeter, shipped_config_path

DEFAULT_VIDEO = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos" / "human_hand_video.mp4"
)


def hand_sequence(video: Path, max_frames: int, checkpoint: str | None) -> list[tuple[str, np.ndarray]]:
    """(side, (21, 3) camera-frame joints) of the best hand of each frame of ``video`` with a hand."""
    from tqdm import tqdm

    from fast_hamer_core.frames import FrameReader
    from fast_hamer_core.geometry import PinholeCamera
    from fast_hamer_core.pipeline import HandReconstructor

    reconstructor = HandReconstructor.from_options(checkpoint=checkpoint, device="cpu", stream=True)
    reader = FrameReader(str(video))
    hands: list[tuple[str, np.ndarray]] = []
    try:
        for i, rgb in enumerate(tqdm(reader.frames(), total=max_frames, desc="hands", unit="frame")):
            if i >= max_frames:
                break
            camera = PinholeCamera.assumed(rgb.shape[1], rgb.shape[0])
            results = reconstructor.reconstruct(rgb, camera, stamp_s=i / 30.0)
            if results:
                best = max(results, key=lambda r: r.score)
                hands.append((best.side, np.asarray(best.keypoints_3d, dtype=np.float64)))
    finally:
        reader.close()
        reconstructor.close()
    return hands


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fast_hamer_core.bench.retarget",
        description="Time dex-retargeting per frame on the hands of a real video, for shipped robot "
        "configs (--robots, --types, needs --urdf-dir) or your own --config files.",
    )
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="input video (default: the webcam clip)")
    p.add_argument("--max-frames", type=int, default=90, help="frames read from the video (default 90)")
    p.add_argument("--checkpoint", default=None, help="mesh checkpoint (default: landmarks-only joints)")
    p.add_argument("--urdf-dir", type=Path, required=True, help="folder the configs' urdf_path is under")
    p.add_argument("--robots", default="allegro,leap", help=f"comma list of {', '.join(ROBOTS)}")
    p.add_argument("--types", default=",".join(RETARGETING_TYPES), help="comma list of vector, dexpilot")
    p.add_argument("--config", type=Path, action="append", default=[], help="own config (repeatable)")
    p.add_argument("--side", choices=("left", "right"), default=None, help="side of --config files")
    return p


def run(args: argparse.Namespace) -> int:
    if not args.video.is_file():
        raise FileNotFoundError(f"video {args.video} does not exist")
    hands = hand_sequence(args.video, args.max_frames, args.checkpoint)
    if not hands:
        raise ValueError(f"no hand found in the first {args.max_frames} frames of {args.video}")
    jobs: list[tuple[str, str, Path]] = []  # (label, side, config)
    for config in args.config:
        jobs.append((config.stem, args.side or hands[0][0], config))
    if not args.config:
        for robot in filter(None, args.robots.split(",")):
            for kind in filter(None, args.types.split(",")):
                for side in sorted({s for s, _ in hands}):
                    jobs.append((f"{robot} {kind}", side, shipped_config_path(robot, side, kind)))
    rows = []
    for label, side, config in jobs:
        retargeter = HandRetargeter(config, args.urdf_dir, side)
        times = []
        for hand_side, joints in hands:
            if hand_side == side:
                retargeter.retarget(joints)
                times.append(retargeter.times.last_s * 1000.0)
        if times:
            t = np.asarray(times)
            rows.append(
                (
                    label,
                    side,
                    len(retargeter.joint_names),
                    len(t),
                    t.mean(),
                    np.median(t),
                    np.percentile(t, 95),
                )
            )
    print(f"\nretarget solve time per frame ({len(hands)} frames with a hand from {args.video.name}; "
          f"{time.strftime('%Y-%m-%d')})")  # fmt: skip
    print(f"{'config':<24} {'side':<6} {'dof':>4} {'frames':>7} {'mean ms':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for label, side, dof, n, mean, p50, p95 in rows:
        print(f"{label:<24} {side:<6} {dof:>4} {n:>7} {mean:>8.2f} {p50:>7.2f} {p95:>7.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, ValueError, ImportError) as exc:
        print(f"retarget bench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
