"""``fast-hamer report``: eval results -> the comparison table (markdown) and an accuracy-vs-speed plot."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="table + accuracy-vs-FPS plot from several eval results",
        description="Merge `fast-hamer eval` result JSONs (one row per model, columns per dataset) into the "
        "seed paper's table (markdown) and a scatter plot of PA-MPJPE against FPS with circle area "
        "proportional to the parameter count (PNG).",
        epilog="example: fast-hamer report results/*.json --out table.md --plot scatter.png",
    )
    p.add_argument(
        "results",
        nargs="+",
        help="result JSON files written by `fast-hamer eval`, or folders of them (results/*.json works: "
        "prediction files are skipped)",
    )
    p.add_argument("--out", help="markdown table file (default: print it)")
    p.add_argument("--plot", help="scatter plot PNG")
    p.add_argument("--force", action="store_true", help="replace existing --out / --plot files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fast_hamer_core.evaluation.report import load_results, markdown_table, scatter_plot

    existing = [f for f in (args.out, args.plot) if f and Path(f).exists()]
    if existing and not args.force:
        raise ValueError(f"{' and '.join(existing)} already exist(s); pass --force to replace")
    results = load_results(args.results)
    table = markdown_table(results)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table)
        print(f"table: {args.out}")
    else:
        print(table, end="")
    if args.plot:
        print(f"plot: {scatter_plot(results, args.plot)}")
    return 0
