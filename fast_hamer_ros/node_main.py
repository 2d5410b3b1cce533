"""The console-entry-point part every node of this package shares: ``rclpy`` up, spin, a clean shut-down.

rclpy is imported inside :func:`run_node`, so that importing this module (and the demo nodes' modules,
which keep their ROS imports inside ``main``) needs no ROS.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class StartupError(RuntimeError):
    """ROS cannot start with the given arguments (a missing or unreadable params file, bad --ros-args)."""


def params_files(args: Sequence[str]) -> list[str]:
    """The ``--params-file PATH`` arguments of a command line (inside ``--ros-args`` sections)."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--params-file"]


def check_params_files(args: Sequence[str]) -> None:
    """Every ``--params-file`` exists and is a YAML mapping; else :class:`StartupError` naming the file
    and the problem (rcl's own message is a traceback ending in "Couldn't parse params file")."""
    import yaml

    for name in params_files(args):
        path = Path(name)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise StartupError(f"params file {name} {what}")
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise StartupError(f"cannot read params file {name}: {exc}") from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise StartupError(f"params file {name} is not valid YAML{at}: {problem}") from None
        if not isinstance(data, dict):
            raise StartupError(
                f"params file {name} must map node names to 'ros__parameters' sections, "
                f"got {type(data).__name__}"
            )


def _rcl_message(exc: BaseException) -> str:
    """rcl's error text without its C source locations (", at /project/src/parse.c:835")."""
    return re.sub(r",? at /\S+:\d+", "", str(exc)).strip()


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

    Ctrl-C and an external shutdown end it normally (0). A params file that is missing or not YAML, or
    arguments rcl refuses, and ``setup_errors`` (e.g. a bad parameter or a missing file) print one line
    ``<name>: error: <message>`` on stderr and return 1; other errors propagate. Whatever happens,
    ``on_exit(node)`` (flush the node's files) runs first, then the node is destroyed and rclpy shut
    down. ``spin(node)`` defaults to ``rclpy.spin``.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    argv = list(args if args is not None else sys.argv)
    try:
        check_params_files(argv)
        try:
            rclpy.init(args=argv)
        except Exception as exc:  # rclpy's RCLError: rcl refused the arguments
            raise StartupError(f"cannot start ROS: {_rcl_message(exc)}") from None
    except StartupError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
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
