"""Bench on a shared machine: interleaved variants, the spread of every row, noisy ratios flagged."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core import bench
from fast_hamer_core.bench.measure import is_reliable, summarize, time_interleaved
from fast_hamer_core.bench.options import BenchResult


def test_variants_take_turns_in_rounds():
    calls: list[str] = []
    variants = [(lambda x, n=n: calls.append(n), lambda: None) for n in "ab"]
    times = time_interleaved(variants, repeats=4, warmup=1, budget_s=10.0, rounds=2)
    assert [len(t) for t in times] == [4, 4]
    assert "".join(calls) == "a" + "b" + "aa" + "bb" + "aa" + "bb"  # warm-up, then round 1, round 2


def test_spread_and_reliability():
    steady = summarize([0.010] * 9 + [0.011])
    assert steady["spread"] == pytest.approx(0.0) and steady["runs"] == 10
    noisy = summarize([0.010, 0.020, 0.010, 0.030, 0.015, 0.025])
    assert noisy["spread"] > 0.2
    assert is_reliable({**steady, "load_1min": 0.5}, cpus=2)
    assert not is_reliable({**noisy, "load_1min": 0.5}, cpus=2)
    assert not is_reliable({**steady, "load_1min": 5.0}, cpus=2)  # more runnable processes than CPUs


def _row(runtime: str, median_ms: float, spread: float) -> dict:
    row = {"model": "s", "runtime": runtime, "batch": 1, "params_m": 1.0, "gflops": 1.0}
    row.update(median_ms=median_ms, p95_ms=median_ms * 1.1, mean_ms=median_ms, runs=10, spread=spread)
    row["load_1min"] = 0.1
    row["reliable"] = is_reliable(row, cpus=2)
    return row


def test_a_ratio_on_a_noisy_row_is_flagged_not_a_headline():
    rows = [_row("torch", 2351.0, 0.9), _row("onnxruntime", 40.0, 0.05)]
    bench.add_ratios(rows, keys=("model", "runtime", "batch"))
    assert rows[1]["x_torch"] == pytest.approx(2351.0 / 40.0) and rows[1]["ratio_reliable"] is False
    table = bench.format_tables(BenchResult(device="cpu", environment={}, latency=rows))
    line = next(ln for ln in table.splitlines() if ln.startswith("s ") and "onnxruntime" in ln)
    assert "58.77?" in line and "±5%" in line
    assert "note: noisy: s / torch / batch 1: spread 90%" in table
    clean = [_row("torch", 100.0, 0.05), _row("onnxruntime", 25.0, 0.05)]
    bench.add_ratios(clean, keys=("model", "runtime", "batch"))
    table = bench.format_tables(BenchResult(device="cpu", environment={}, latency=clean))
    assert "4.00" in table and "?" not in table and "noisy" not in table
    assert np.isfinite(clean[1]["x_torch"])
