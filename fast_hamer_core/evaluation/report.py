"""``fast-hamer eval`` results -> the seed paper's comparison table and an accuracy-vs-speed plot.

Rows are models (a result's ``label``, default the model name); columns: parameters (M), GFLOPs, FPS at
batch 1 and 4 (with the device they were measured on), then per dataset PA-MPJPE / PA-MPVPE (mm),
F@5mm / F@15mm and the joint AUC. Results of one model on several datasets merge into one row.

The plot: x = FPS at batch 1, y = PA-MPJPE (the first dataset with scores, FreiHAND preferred), circle
area proportional to the parameter count, one labelled circle per model (matplotlib, Agg backend).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pa_mpjpe_mm", "PA-MPJPE", "{:.2f}"),
    ("pa_mpvpe_mm", "PA-MPVPE", "{:.2f}"),
    ("f@5mm", "F@5", "{:.3f}"),
    ("f@15mm", "F@15", "{:.3f}"),
    ("auc_joints", "AUC", "{:.3f}"),
)


def is_prediction_file(data: Any) -> bool:
    """Whether parsed JSON is a server prediction file (``[xyz_list, verts_list]``) rather than a result."""
    return isinstance(data, list) and len(data) == 2 and all(isinstance(x, list) for x in data)


def load_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Read result JSON files (a folder: its ``*.json``); server prediction files that a glob such as
    ``results/*.json`` picks up are skipped with a note. ValueError naming a file that is neither."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    out = []
    for p in files:
        if not p.is_file():
            raise FileNotFoundError(f"result file not found: {p}")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p} is not JSON: {exc}") from exc
        if is_prediction_file(data):
            log.info("skipping %s: server predictions, not a result", p)
            continue
        if not isinstance(data, dict) or "model" not in data or "dataset" not in data:
            raise ValueError(f"{p} is not a `fast-hamer eval` result (needs 'model' and 'dataset')")
        data.setdefault("_file", str(p))
        out.append(data)
    if not out:
        raise ValueError("no `fast-hamer eval` result files given")
    return out


def merge_rows(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per label: speed/size from any of its results, metrics per dataset. -> (rows, datasets)."""
    rows: dict[str, dict[str, Any]] = {}
    datasets: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for r in results:
        label = r.get("label") or r["model"]
        key = (label, r["dataset"])
        if key in seen:
            raise ValueError(
                f"two results for {label!r} on {r['dataset']}: {seen[key]} and {r.get('_file', '?')}; "
                "give them different labels (`fast-hamer eval --label`) or pass only one"
            )
        seen[key] = r.get("_file", "?")
        row = rows.setdefault(label, {"label": label, "metrics": {}})
        if r.get("speed") and "speed" not in row:
            row["speed"] = r["speed"]
        if r.get("metrics"):
            row["metrics"][r["dataset"]] = r["metrics"]
            if r["dataset"] not in datasets:
                datasets.append(r["dataset"])
    order = sorted(datasets, key=lambda d: (d != "freihand", d))
    return list(rows.values()), order


def _fmt(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The comparison table as GitHub markdown."""
    rows, datasets = merge_rows(results)
    header = ["Model", "Params (M)", "GFLOPs", "FPS b1", "FPS b4"]
    for d in datasets:
        header += [f"{d} {name}" for _, name, _ in METRIC_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    devices = set()
    for row in rows:
        speed = row.get("speed") or {}
        lat = speed.get("latency", {})
        if speed.get("device"):
            devices.add(speed["device"])
        cells = [
            row["label"],
            _fmt(speed.get("params") and speed["params"] / 1e6, "{:.1f}"),
            _fmt(speed.get("gflops"), "{:.1f}"),
            _fmt(lat.get("batch_1", {}).get("fps"), "{:.1f}"),
            _fmt(lat.get("batch_4", {}).get("fps"), "{:.1f}"),
        ]
        for d in datasets:
            m = row["metrics"].get(d, {})
            cells += [_fmt(m.get(key), fmt) for key, _, fmt in METRIC_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        "Errors in mm after Procrustes alignment; F-scores at 5 / 15 mm; AUC of the joint PCK over "
        "0-50 mm. FPS = hands per second (median latency, after warm-up, device synchronised).",
    ]
    if devices:
        notes.append("Speed measured on: " + "; ".join(sorted(devices)) + ".")
    return "\n".join(lines + notes) + "\n"


def scatter_plot(results: list[dict[str, Any]], path: str | Path) -> Path:
    """Accuracy (PA-MPJPE) vs speed (FPS, batch 1), circle area ~ parameters; PNG at ``path``."""
    from fast_hamer_core.plotting import pyplot, save_figure

    plt = pyplot()

    rows, datasets = merge_rows(results)
    points = []
    for row in rows:
        fps = (row.get("speed") or {}).get("latency", {}).get("batch_1", {}).get("fps")
        params = (row.get("speed") or {}).get("params")
        err = next((row["metrics"][d]["pa_mpjpe_mm"] for d in datasets if d in row["metrics"]), None)
        if fps is not None and err is not None:
            points.append((row["label"], fps, err, params or 0))
    if not points:
        raise ValueError("no result has both an FPS measurement and a PA-MPJPE: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    biggest = max(p[3] for p in points) or 1
    for label, fps, err, params in points:
        ax.scatter(fps, err, s=80 + 1500 * params / biggest, alpha=0.5, edgecolors="k")
        size = f"{params / 1e6:.{0 if params >= 1e7 else 1}f}M"  # 0.2M, 4.3M, 40M
        ax.annotate(f"{label}\n{size}", (fps, err), ha="center", va="center", fontsize=8)
    ax.set_xlabel("FPS (batch 1)")
    ax.set_ylabel(f"PA-MPJPE (mm, {datasets[0] if datasets else ''})")
    ax.set_title("Accuracy vs speed (circle area ~ parameters)")
    ax.grid(True, alpha=0.3)
    ax.margins(0.15)  # room for the labels of the outermost circles
    return save_figure(fig, path)
