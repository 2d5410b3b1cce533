"""The printed tables, the JSON file and the plot of a benchmark result."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from fast_hamer_core.bench.options import STAGES, BenchResult

log = logging.getLogger("fast_hamer_core.bench")


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def _ratio(row: dict[str, Any], key: str) -> str:
    """A ratio cell: the value, with '?' when a row it is built from is noisy (``ratio_reliable`` False)."""
    value = row.get(key)
    if value is None:
        return "-"
    return format(value, ".2f") + ("" if row.get("ratio_reliable", True) else "?")


def _noise_notes(result: BenchResult) -> list[str]:
    """Which latency rows are noisy and why, and what the '?' marks mean (nothing when all are clean)."""
    from fast_hamer_core.bench.options import SPREAD_LIMIT

    cpus = os.cpu_count() or 1
    noisy = [r for r in result.latency if not r.get("reliable", True)]
    if not noisy:
        return []
    lines = [
        "note: '?' marks a ratio built on a noisy row: do not quote it; rerun on an idle machine "
        f"(noisy = spread (p75-p25)/median above {100 * SPREAD_LIMIT:.0f}% or 1-min load above {cpus} CPUs)"
    ]
    for r in noisy:
        load = r.get("load_1min")
        lines.append(
            f"note: noisy: {r['model']} / {r['runtime']} / batch {r['batch']}: "
            f"spread {100 * r['spread']:.0f}%" + (f", load {load:.1f}" if load is not None else "")
        )
    return lines


def _stage_table(rows: list[dict[str, Any]], title: str) -> list[str]:
    """Rows of FPS, median frame time and each stage's share."""
    head = f"{'model':<18} {'runtime':<12} {'mode':<7} {'hands':>5} {'FPS':>6} {'med ms':>7}"
    head += "".join(f" {s + ' %':>11}" for s in STAGES) + f" {'x_torch':>8} {'x_teacher':>9}"
    lines = ["", title, head, "-" * len(head)]
    for r in rows:
        line = f"{r['model']:<18} {r['runtime']:<12} {r.get('mode', 'frame'):<7} {r['hands']:>5.1f}"
        line += f" {r['fps']:>6.1f} {r['median_ms']:>7.1f}"
        line += "".join(f" {100 * r['stages_share'][s]:>11.1f}" for s in STAGES)
        line += f" {_fmt(r['x_torch'], '.2f'):>8} {_fmt(r['x_teacher'], '.2f'):>9}"
        lines.append(line)
    return lines


def format_tables(result: BenchResult) -> str:
    """The printed report: latency table (one row per model x runtime, batches as columns) + pipeline."""
    lines = [
        f"Device: {result.device} | torch {result.environment.get('torch')}"
        + (
            f" | onnxruntime {result.environment['onnxruntime']}"
            if "onnxruntime" in result.environment
            else ""
        )
    ]
    batches = sorted({r["batch"] for r in result.latency})
    head = f"{'model':<18} {'runtime':<12} {'params_M':>8} {'GFLOPs':>7}"
    head += "".join(f" {'b' + str(b) + ' med/p95 ms ±spread':>24}" for b in batches)
    head += f" {'x_torch(b1)':>11} {'x_teacher(b1)':>13}"
    lines += ["", "Network latency (backbone + head)", head, "-" * len(head)]
    rows: dict[tuple[str, str], dict[int, dict]] = {}
    for r in result.latency:
        rows.setdefault((r["model"], r["runtime"]), {})[r["batch"]] = r
    for (model, runtime), per in rows.items():
        first = per[min(per)]
        line = f"{model:<18} {runtime:<12} {first['params_m']:>8.1f} {first['gflops']:>7.2f}"
        for b in batches:
            cell = "-"
            if b in per:
                r = per[b]
                cell = f"{r['median_ms']:.1f}/{r['p95_ms']:.1f} ±{100 * r.get('spread', 0.0):.0f}%"
            line += f" {cell:>24}"
        line += f" {_ratio(first, 'x_torch'):>11} {_ratio(first, 'x_teacher'):>13}"
        lines.append(line)
    single = [r for r in result.pipeline if "latency_p50_ms" not in r]
    streamed = [r for r in result.pipeline if "latency_p50_ms" in r]
    if single:
        lines += _stage_table(
            single,
            f"Pipeline end to end ({result.environment.get('pipeline_image', '')}, "
            f"detector {result.environment.get('detector', '')})",
        )
    if streamed:
        rate = streamed[0]["rate_hz"]
        head = f"{'model':<18} {'runtime':<12} {'mode':<7} {'FPS':>6} {'lat p50':>8} {'lat p95':>8}"
        head += f" {'palm/frame':>10} {'window/fr':>9} {'body/fr':>7} {'mirror/fr':>9}"
        head += f" {'all hands':>9} {'side chg':>8} {'x_frame':>7}"
        lines += [
            "",
            f"Stream ({result.environment.get('stream_input', '')}): throughput saturated, latency (ms) "
            f"with frames paced at {rate:g} Hz",
            head,
            "-" * len(head),
        ]
        for r in streamed:
            line = f"{r['model']:<18} {r['runtime']:<12} {r['mode']:<7} {r['fps']:>6.1f}"
            line += f" {_fmt(r['latency_p50_ms']):>8} {_fmt(r['latency_p95_ms']):>8}"
            line += f" {r['palm_searches_per_frame']:>10.2f} {r['window_searches_per_frame']:>9.2f}"
            line += f" {r['body_searches_per_frame']:>7.2f}"
            line += f" {r['mirror_passes_per_frame']:>9.2f}"
            line += f" {_fmt(r['all_hands_fraction'], '.3f'):>9} {r['side_changes']:>8d}"
            line += f" {_fmt(r['x_frame'], '.2f'):>7}"
            lines.append(line)
        lines += _stage_table(streamed, "Stream: stage times per frame (the stages overlap in stream mode)")
    for s in result.skipped:
        lines.append(f"skipped {s['model']} / {s['runtime']}: {s['reason']}")
    lines += [f"note: {n}" for n in result.notes]
    lines += _noise_notes(result)
    return "\n".join(lines)


def write_json(result: BenchResult, path: str | os.PathLike) -> Path:
    """The full result as JSON (with the column documentation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1))
    return path


def plot(result: BenchResult, path: str | os.PathLike) -> Path:
    """PNG: network latency per model and runtime (one panel per batch size, log scale), and the
    pipeline's frame time split into stages when measured."""
    from fast_hamer_core.plotting import pyplot, save_figure

    plt = pyplot()

    batches = sorted({r["batch"] for r in result.latency})
    models = list(dict.fromkeys(r["model"] for r in result.latency))
    runtimes = list(dict.fromkeys(r["runtime"] for r in result.latency))
    panels = len(batches) + (1 if result.pipeline else 0)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(5.5 * max(panels, 1), 5.0), squeeze=False)
    width = 0.8 / max(len(runtimes), 1)
    for ax, b in zip(axes[0], batches, strict=False):
        for i, rt in enumerate(runtimes):
            vals = [
                next(
                    (
                        r["median_ms"]
                        for r in result.latency
                        if r["model"] == m and r["runtime"] == rt and r["batch"] == b
                    ),
                    np.nan,
                )
                for m in models
            ]
            ax.bar(np.arange(len(models)) + (i - (len(runtimes) - 1) / 2) * width, vals, width, label=rt)
        ax.set_xticks(np.arange(len(models)), models, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("median latency (ms)")
        ax.set_title(f"network, batch {b}")
        ax.legend()
    if result.pipeline:
        ax = axes[0][-1]
        labels = [
            f"{r['model']} / {r['runtime']} / {r.get('mode', 'frame')}: {r['fps']:.1f} FPS"
            for r in result.pipeline
        ]
        y = np.arange(len(labels))[::-1]
        left = np.zeros(len(labels))
        for s in STAGES:
            share = np.array([100.0 * r["stages_share"][s] for r in result.pipeline])
            ax.barh(y, share, left=left, label=s)
            left += share
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the frame time (%)")
        ax.set_title("pipeline, 640x480: stages")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"fast-hamer bench: {result.device}", fontsize=9)
    return save_figure(fig, path, dpi=100)
