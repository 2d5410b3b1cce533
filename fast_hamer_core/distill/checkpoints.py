"""Step checkpoints of the trainer: ``step=<N>.ckpt`` every N optimiser steps *and* at the last step,
``last.ckpt`` always the final state, the newest ``keep`` step files kept.

Lightning's ``ModelCheckpoint`` writes only on its interval, so a run whose ``max_steps`` is not a
multiple of it ended with a ``last.ckpt`` of an earlier step (an export then took stale weights and a
resume repeated steps). Here the end of training always writes, and every file says its step in its name
(``last.ckpt`` is a copy of the newest ``step=<N>.ckpt``; :func:`checkpoint_step` reads the step back).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import lightning.pytorch as pl
import torch

log = logging.getLogger(__name__)

LAST_NAME = "last.ckpt"
_STEP_RE = re.compile(r"^step=(\d+)\.ckpt$")


def step_checkpoint_name(step: int) -> str:
    """``step=<N>.ckpt``. Inverse: :func:`parse_step_name`."""
    return f"step={step}.ckpt"


def parse_step_name(name: str) -> int | None:
    """The step in a ``step=<N>.ckpt`` file name, None for other names.

    Inverse of :func:`step_checkpoint_name`."""
    m = _STEP_RE.match(name)
    return int(m.group(1)) if m else None


def checkpoint_step(path: str | os.PathLike) -> int:
    """The optimiser step a trainer checkpoint was written at (its ``global_step``)."""
    return checkpoint_position(path)[0]


def checkpoint_position(path: str | os.PathLike) -> tuple[int, int, int]:
    """(optimiser step, epoch, batches already taken in that epoch) of a trainer checkpoint: where a
    resumed data stream has to continue (one endless epoch when ``data.resampled``)."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    step, epoch = int(data.get("global_step", 0)), int(data.get("epoch", 0))
    progress = (data.get("loops") or {}).get("fit_loop", {}).get("epoch_loop.batch_progress", {})
    in_epoch = int(progress.get("current", {}).get("ready", step))
    return step, epoch, in_epoch


class StepCheckpoints(pl.Callback):
    """Writes ``dirpath/step=<N>.ckpt`` every ``every_n_steps`` steps and after the last step, copies
    the newest to ``last.ckpt`` and deletes step files beyond the newest ``keep`` (0: keep all)."""

    def __init__(self, dirpath: str | os.PathLike, every_n_steps: int, keep: int = 2) -> None:
        if every_n_steps < 1:
            raise ValueError("run.checkpoint_every_n_steps must be >= 1")
        self.dirpath = Path(dirpath)
        self.every_n_steps = int(every_n_steps)
        self.keep = int(keep)
        self.last_saved_step: int | None = None
        self.last_path: Path | None = None

    def save(self, trainer: pl.Trainer) -> Path:
        step = int(trainer.global_step)
        path = self.dirpath / step_checkpoint_name(step)
        trainer.save_checkpoint(path)  # every rank calls it; Lightning writes on rank 0
        if trainer.is_global_zero:
            shutil.copyfile(path, self.dirpath / LAST_NAME)
            self._prune()
        self.last_saved_step, self.last_path = step, path
        log.debug("checkpoint %s", path)
        return path

    def _prune(self) -> None:
        if self.keep <= 0:
            return
        steps = sorted(
            (s, p) for p in self.dirpath.glob("step=*.ckpt") if (s := parse_step_name(p.name)) is not None
        )
        for _, p in steps[: -self.keep]:
            p.unlink(missing_ok=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = int(trainer.global_step)
        if step > 0 and step % self.every_n_steps == 0 and step != self.last_saved_step:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if int(trainer.global_step) != self.last_saved_step:
            self.save(trainer)
