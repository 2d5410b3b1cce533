"""Fixtures of the ROS tests: real rclpy, real DDS between processes, localhost only.

Every test that talks DDS gets its own ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
and the product's FastDDS profile, in its own process and every process it starts (ros_harness).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


def _ensure_tf2_msgs() -> None:
    """The set-up step, if it has not run in this environment yet (test modules import tf2_msgs)."""
    try:
        import tf2_msgs.msg  # noqa: F401
    except ImportError:
        import importlib

        from fast_hamer_ros.bootstrap import ensure_tf2_msgs

        ensure_tf2_msgs(log=lambda line: print(f"[bootstrap] {line}"))
        importlib.invalidate_caches()


_ensure_tf2_msgs()

from ros_harness import RosPeer, set_ros_environment  # noqa: E402


@pytest.fixture
def ros_domain(monkeypatch) -> int:
    """A fresh domain id with the ROS environment set for this test and its child processes."""
    return set_ros_environment(monkeypatch)


@pytest.fixture
def peer(ros_domain) -> Iterator[RosPeer]:
    """An rclpy node of the test process in the test's domain."""
    p = RosPeer(ros_domain)
    yield p
    p.close()
