"""The ``fast-hamer`` command-line tool: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)`` that adds its parser and sets ``func``
(a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Sub-command modules, in the order ``--help`` lists them. A module that fails to import (an optional
#: extra not installed) is reported when its command is used, not when another one is.
SUBCOMMANDS: tuple[str, ...] = (
    "infer",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fast-hamer",
        description="Real-time 3D hand mesh reconstruction with students distilled from HaMeR.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"fast_hamer_core.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        # Expected user errors: one clear line, no traceback.
        print(f"fast-hamer {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
