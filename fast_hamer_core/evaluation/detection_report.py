"""Several detector settings side by side: a comparison table and a recall-per-kind bar chart.

``fast-hamer detect-eval --mode fast --mode thorough`` scores every setting on the same labelled photos
(:func:`~fast_hamer_core.evaluation.detection.summarise` per setting); this module lays the summaries
out so the trade is visible at a glance:

- :func:`format_comparison`: one row per measure (recall overall and per kind, precision, duplicates,
  side accuracy, ms per image), one column per setting;
- :func:`plot_recall_by_kind`: grouped bars, recall per kind of hand (kinds with no labelled hand left
  out), one bar per setting, with each setting's precision and time per image in the legend (matplotlib,
  Agg backend, so it runs without a display).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fast_hamer_core.evaluation.detection import fraction_text
from fast_hamer_core.evaluation.hand_labels import KIND_TITLES, KINDS


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def kinds_present(summaries: Mapping[str, dict]) -> list[str]:
    """The kinds (in :data:`KINDS` order) that have labelled hands in any of the summaries."""
    return [k for k in KINDS if any(s["kinds"][k]["hands"] for s in summaries.values())]


def format_comparison(summaries: Mapping[str, dict], title: str = "", unit: str = "images") -> str:
    """A plain-text table: measures as rows, settings (the mapping's keys, in order) as columns;
    ``unit`` names what was scored (``"frames"`` for clips).

    Every summary must come from the same labels (the same images and hands); ValueError otherwise,
    since the columns would not be comparable."""
    if not summaries:
        raise ValueError("nothing to compare: no summaries")
    counts = {(s["images"], s["hands"]) for s in summaries.values()}
    if len(counts) != 1:
        raise ValueError(f"the summaries come from different label sets (images, hands): {sorted(counts)}")
    rows: list[tuple[str, list[str]]] = [
        ("recall, all hands", [fraction_text(s["found"], s["hands"]) for s in summaries.values()]),
        ("precision", [fraction_text(s["true_positives"], s["detections"]) for s in summaries.values()]),
        ("duplicates (one hand twice)", [str(s["duplicates"]) for s in summaries.values()]),
        ("false hands (on no hand)", [str(s["false_hands"]) for s in summaries.values()]),
        (
            "side accuracy (side known)",
            [fraction_text(s["side_correct"], s["hands_with_side"]) for s in summaries.values()],
        ),
        (
            f"ms per {unit[:-1] if unit.endswith('s') else unit}, mean / median",
            [f"{_ms(s['ms_per_image_mean'])} / {_ms(s['ms_per_image_median'])}" for s in summaries.values()],
        ),
    ]
    for kind in kinds_present(summaries):
        cells = [
            fraction_text(s["kinds"][kind]["found"], s["kinds"][kind]["hands"]) for s in summaries.values()
        ]
        rows.append((f"recall: {KIND_TITLES[kind]}", cells))
    names = list(summaries)
    first = max(len(name) for name, _ in rows)
    widths = [max(len(names[i]), *(len(cells[i]) for _, cells in rows)) for i in range(len(names))]
    images, hands = next(iter(counts))
    lines = [title] if title else []
    lines.append(f"{images} {unit}, {hands} hands")
    lines.append(f"{'':{first}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True)))
    for name, cells in rows:
        lines.append(f"{name:{first}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def plot_recall_by_kind(summaries: Mapping[str, dict], path: str | Path, title: str = "") -> Path:
    """Grouped bars of recall per kind (overall first), one bar per setting, written as an image to
    ``path`` (the format from its suffix, e.g. ``.png``). Each bar is labelled with found/hands."""
    from fast_hamer_core.plotting import pyplot, save_figure

    plt = pyplot()

    if not summaries:
        raise ValueError("nothing to plot: no summaries")
    kinds = kinds_present(summaries)
    groups = ["all hands", *(KIND_TITLES[k].split(" (")[0] for k in kinds)]
    width = 0.8 / len(summaries)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) + 2.0), 4.5), dpi=110)
    for i, (name, s) in enumerate(summaries.items()):
        counts = [(s["found"], s["hands"])] + [
            (s["kinds"][k]["found"], s["kinds"][k]["hands"]) for k in kinds
        ]
        recall = [100.0 * f / h if h else 0.0 for f, h in counts]
        xs = [g + (i - (len(summaries) - 1) / 2) * width for g in range(len(groups))]
        precision = "-" if s["precision"] is None else f"{100.0 * s['precision']:.0f} %"
        label = f"{name}: precision {precision}, {_ms(s['ms_per_image_mean'])} ms/image"
        bars = ax.bar(xs, recall, width=width * 0.95, label=label)
        for bar, (f, h) in zip(bars, counts, strict=True):
            ax.annotate(
                f"{f}/{h}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("recall (%)")
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylim(0, 100 + 12 * (len(summaries) + 1))  # room for the legend above the bars
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


__all__ = ["format_comparison", "kinds_present", "plot_recall_by_kind"]
