"""A publisher that is made anew when the ROS graph shows a subscriber it has not matched.

On a loaded machine a DDS discovery can go wrong for good between two endpoints: the graph lists the
subscriber, a new participant matches it at once, yet this publisher's writer never does
(``get_subscription_count()`` stays 0), so nothing it publishes arrives. Seen once in CI with Fast DDS:
image_source's image publisher never matched hand_mesh_node's subscription, and a lockstep run waited
until its timeout. A publisher made anew is a new endpoint, discovered afresh.

A subscriber with an incompatible QoS looks the same (listed, never matched); it gets a new publisher
every ``after_s`` and a warning that says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds a subscriber may stay listed but unmatched before the publisher is made anew.
REMATCH_AFTER_S: float = 5.0


class RematchingPublisher:
    """``node.create_publisher(msg_type, topic, qos)``, made anew by :meth:`check` when needed."""

    def __init__(
        self,
        node,
        msg_type,
        topic: str,
        qos,
        after_s: float = REMATCH_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._node, self._args = node, (msg_type, topic, qos)
        self.after_s, self._clock = float(after_s), clock
        self.publisher = node.create_publisher(msg_type, topic, qos)
        self.remakes = 0  #: how often the publisher was made anew
        self._unmatched_since: float | None = None

    def check(self) -> bool:
        """Call it now and then (each tick): True when the publisher was just made anew, because the
        graph has listed a subscriber of its topic that it has not matched for ``after_s``."""
        listed = self._node.count_subscribers(self.publisher.topic_name)
        if listed == 0 or self.publisher.get_subscription_count() > 0:
            self._unmatched_since = None
            return False
        now = self._clock()
        if self._unmatched_since is None:
            self._unmatched_since = now
            return False
        if now - self._unmatched_since < self.after_s:
            return False
        self._node.get_logger().warning(
            f"{self.publisher.topic_name}: {listed} subscriber(s) listed but none matched for "
            f"{self.after_s:.0f} s (a lost DDS discovery, or an incompatible QoS): publisher made anew"
        )
        self._node.destroy_publisher(self.publisher)
        self.publisher = self._node.create_publisher(*self._args)
        self.remakes += 1
        self._unmatched_since = None
        return True


__all__ = ["REMATCH_AFTER_S", "RematchingPublisher"]
