"""The process environment a ROS 2 process of this product needs (localhost DDS, FastDDS profile).

Kilted's pip wheels need nothing beyond what their ``ros_wheels_bootstrapper`` sets at interpreter
start (``LD_LIBRARY_PATH`` to the wheels' libraries, then a re-exec); this module adds the ROS
settings that keep DDS on this machine and move images through shared memory:

- ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (``ROS_LOCALHOST_ONLY`` is ignored since Jazzy),
- ``ROS_DOMAIN_ID``,
- ``RMW_IMPLEMENTATION=rmw_fastrtps_cpp``,
- ``FASTDDS_DEFAULT_PROFILES_FILE``: the product's profile (a 16 MiB shared-memory segment and UDP on
  127.0.0.1 only; without it FastDDS multicasts discovery on the network and multi-megabyte images
  fall back to UDP, where best-effort QoS loses most of them). Both ends of a topic need it.
- ``AMENT_PREFIX_PATH`` gains the Python prefix so ament_index finds the installed package's share dir.

Must not import rclpy: it is used to prepare the environment of processes before they start ROS.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "fast_hamer_ros"
FASTDDS_PROFILE_NAME = "fastdds_localhost_shm.xml"
#: FastDDS derives UDP ports from the domain id; 0..232 are valid (0..101 avoid ephemeral ports).
MAX_DOMAIN_ID = 232


def package_share_dirs() -> list[Path]:
    """Candidate share directories of this package, installed first, then the source tree."""
    candidates: list[Path] = []
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE)
    candidates.append(Path(sys.prefix) / "share" / PACKAGE)
    candidates.append(Path(__file__).resolve().parent.parent)  # source tree: <repo>/config, <repo>/launch
    return candidates


def find_data_file(relative: str) -> Path:
    """An installed or source-tree data file of the package, e.g. ``config/hands.yaml``.

    Raises FileNotFoundError listing the places searched."""
    searched = [d / relative for d in package_share_dirs()]
    for path in searched:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{relative} not found; searched: {', '.join(map(str, searched))}")


def fastdds_profile_path() -> Path:
    """The product's FastDDS profile (localhost UDP + 16 MiB shared memory)."""
    return find_data_file(f"config/{FASTDDS_PROFILE_NAME}")


def ros_environment(domain_id: int | None = None) -> dict[str, str]:
    """Environment variables for a ROS 2 process of this product (merge them into ``os.environ``).

    ``domain_id`` None keeps ``$ROS_DOMAIN_ID`` if set, else 0. Raises ValueError outside 0..232."""
    if domain_id is None:
        raw = os.environ.get("ROS_DOMAIN_ID", "").strip() or "0"
        try:
            domain_id = int(raw)
        except ValueError as exc:
            raise ValueError(f"ROS_DOMAIN_ID must be an integer, got {raw!r}") from exc
    if not 0 <= int(domain_id) <= MAX_DOMAIN_ID:
        raise ValueError(f"ROS domain id must be in 0..{MAX_DOMAIN_ID}, got {domain_id}")
    ament = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if sys.prefix not in ament:
        ament.append(sys.prefix)
    return {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": str(int(domain_id)),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(fastdds_profile_path()),
        "AMENT_PREFIX_PATH": os.pathsep.join(ament),
    }


def apply_ros_environment(domain_id: int | None = None) -> dict[str, str]:
    """Set :func:`ros_environment` in this process's ``os.environ`` (before ``rclpy.init``); returns it."""
    env = ros_environment(domain_id)
    os.environ.update(env)
    return env
