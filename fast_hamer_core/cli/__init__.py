"""The ``fast-hamer`` command-line tool: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)`` that adds its parser and sets ``func``
(a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

#: Sub-command modules, in the order ``--help`` lists them. A module that fails to import (an optional
#: extra not installed) is reported when its command is used, not when another one is.
SUBCOMMANDS: tuple[str, ...] = (
    "infer",
    "view",
    "detect",
    "detect_eval",
    "detect_hard_set",
    "mano",
    "models",
    "synth_data",
    "train",
    "distill_cache",
    "export_student",
    "eval",
    "report",
    "export",
    "bench",
)


def _add_verbose(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="log debug messages")


def build_parser() -> argparse.ArgumentParser:
    from fast_hamer_core import __version__

    parser = argparse.ArgumentParser(
        prog="fast-hamer",
        description="Real-time 3D hand mesh reconstruction with students distilled from HaMeR.",
    )
    parser.add_argument("--version", action="version", version=f"fast-hamer {__version__}")
    _add_verbose(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"fast_hamer_core.cli.{name}")
        module.register(sub)
    # -v also after the sub-command (default SUPPRESS: a -v given before it is kept)
    for sub_parser in {id(p): p for p in sub.choices.values()}.values():
        _add_verbose(sub_parser, argparse.SUPPRESS)
    return parser


#: Environment that quiets glog / TensorFlow-style native loggers where a library reads it (set before
#: anything imports them); ``-v`` leaves them as they are. MediaPipe's LiteRT ignores it: see
#: :mod:`fast_hamer_core.cli.native_logs`.
QUIET_NATIVE_LOGS: dict[str, str] = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}


def configure_logging(verbose: bool, filter_native: bool = False) -> None:
    """One log format for everything, DEBUG with ``-v``; native chatter off unless ``-v`` (an explicit
    setting in the environment wins). ``filter_native``: also drop MediaPipe / LiteRT's INFO / WARNING
    lines from the process's stderr (the console command does; embedding callers keep their stderr)."""
    if not verbose:
        for key, value in QUIET_NATIVE_LOGS.items():
            os.environ.setdefault(key, value)
        if filter_native:
            from fast_hamer_core.cli.native_logs import filter_native_stderr

            filter_native_stderr()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """The ``fast-hamer`` console command (``argv`` None: ``sys.argv``, and the native-log filter on)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, filter_native=argv is None)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        # Expected user errors: one clear line, no traceback.
        print(f"fast-hamer {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
