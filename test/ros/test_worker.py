"""Newest-frame slot, pipeline statistics, sequence gaps and log throttling (no DDS needed)."""

from __future__ import annotations

import threading

import pytest

from fast_hamer_ros.worker import LatestSlot, PipelineStats, ReasonThrottle, SequenceGaps


def test_latest_slot_keeps_only_the_newest_and_counts_the_overwritten():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(timeout_s=0.0) == 3
    assert slot.take(timeout_s=0.0) is None
    assert (slot.received, slot.dropped) == (3, 2)


def test_latest_slot_wakes_a_waiting_consumer_and_closes():
    slot: LatestSlot[str] = LatestSlot()
    got: list = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout_s=10.0)))
    consumer.start()
    slot.put("frame")
    consumer.join(timeout=5.0)
    assert got == ["frame"]
    waiter = threading.Thread(target=lambda: got.append(slot.take(timeout_s=30.0)))
    waiter.start()
    slot.close()
    waiter.join(timeout=5.0)
    assert not waiter.is_alive() and got[-1] is None and slot.closed


def test_pipeline_stats_rates_latency_percentiles_and_window():
    stats = PipelineStats(window_s=5.0)
    for i in range(11):  # 10 Hz input for 1 s, every other frame processed 100 ms later
        stats.input(now=100.0 + 0.1 * i)
        if i % 2 == 0:
            stats.output(received_at=100.0 + 0.1 * i, hands=2, now=100.1 + 0.1 * i)
    stats.reject()
    stats.error()
    snap = stats.snapshot(dropped=5, now=101.1)
    assert snap.input_rate_hz == pytest.approx(10.0)
    assert snap.output_rate_hz == pytest.approx(5.0)
    assert snap.latency_p50_ms == pytest.approx(100.0) and snap.latency_p95_ms == pytest.approx(100.0)
    assert (snap.received_total, snap.processed_total, snap.dropped_total) == (11, 6, 5)
    assert (snap.rejected_total, snap.errors_total, snap.hands_last_frame) == (1, 1, 2)
    assert snap.seconds_since_input == pytest.approx(0.1)
    later = stats.snapshot(dropped=5, now=200.0)  # outside the window: rates fall to 0, totals stay
    assert later.input_rate_hz == 0.0 and later.processed_total == 6
    assert later.latency_p50_ms != later.latency_p50_ms  # NaN: no recent sample


def test_sequence_gaps_count_messages_lost_per_publisher():
    gaps = SequenceGaps(max_publishers=2)
    assert gaps.observe(b"a", 1) == 0
    assert gaps.observe(b"a", 5) == 3
    assert gaps.observe(b"b", 10) == 0  # first message of another publisher: no history
    assert gaps.observe(b"b", 11) == 0
    assert gaps.observe(b"a", None) == 0  # middleware without sequence numbers
    assert gaps.lost == 3
    gaps.observe(b"c", 1)  # a third publisher evicts the oldest ("a")
    assert gaps.observe(b"a", 100) == 0


def test_reason_throttle_lets_each_reason_through_once_per_period():
    throttle = ReasonThrottle(period_s=5.0)
    assert throttle.allow("short data", now=0.0)
    assert not throttle.allow("short data", now=1.0)
    assert throttle.allow("bad encoding", now=1.0)
    assert throttle.allow("short data", now=5.5)
    assert throttle.suppressed == {"short data": 1}


def test_detection_rates_cover_the_window_and_fall_back_to_the_whole_life():
    from fast_hamer_core.detection.stream import StreamCounts
    from fast_hamer_ros.worker import DetectionRates

    rates = DetectionRates(window_s=5.0)
    assert rates.update(StreamCounts(), now=0.0)["palm_searches_per_frame"] == "0.000"  # nothing yet
    first = rates.update(StreamCounts(frames=10, palm_searches=10, mirror_passes=2), now=1.0)
    assert first["palm_searches_per_frame"] == "1.000" and first["mirror_passes_per_frame"] == "0.200"
    later = rates.update(
        StreamCounts(frames=110, palm_searches=20, mirror_passes=2, body_searches=5), now=7.0
    )
    assert later["palm_searches_per_frame"] == "0.100"  # the last window: 10 searches in 100 frames
    assert later["body_searches_per_frame"] == "0.050"
    idle = rates.update(StreamCounts(frames=110, palm_searches=20, mirror_passes=2), now=20.0)
    assert idle["palm_searches_per_frame"] == f"{20 / 110:.3f}"  # no frame in the window: whole life
