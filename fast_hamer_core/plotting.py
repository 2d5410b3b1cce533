"""The two steps every plot of this package shares: a display-free pyplot, and writing a figure to disk.

Plots are written by command-line tools on machines without a display (CI, robots over SSH), so
matplotlib always runs with its Agg backend, imported only when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """Lay out ``fig``, write it to ``path`` (format from the suffix; parent folders made) and close it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig_kwargs)
    pyplot().close(fig)
    return path
