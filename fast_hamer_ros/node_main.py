"""The console-entry-point part every node of this package shares: ``rclpy`` up, spin, a clean shut-down.

rclpy is imported inside :func:`run_node`, so that importing this module (and the demo nodes' modules,
which keep their ROS imports inside ``main``) needs no ROS.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def run_node(
    args: list[str] | None,
    make_node: Callable[[], Any],
    *,
    name: str,
    spin: Callable[[Any], None] | None = None,
    setup_errors: tuple[type[BaseException], ...] = (),
    on_exit: Callable[[Any], None] | None = None,
) -> int:
    """``rclpy.init(args)`` (``sys.argv`` when None), build the node, spin it; returns the exit code.

    Ctrl-C and an external shutdown end it normally (0). ``setup_errors`` (e.g. a bad parameter or a
    missing file) print one line ``<name>: error: <message>`` on stderr and return 1; other errors
    propagate. Whatever happens, ``on_exit(node)`` (flush the node's files) runs first, then the node is
    destroyed and rclpy shut down. ``spin(node)`` defaults to ``rclpy.spin``.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        node = make_node()
        (spin or rclpy.spin)(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except setup_errors as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if node is not None:
            if on_exit is not None:
                on_exit(node)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
