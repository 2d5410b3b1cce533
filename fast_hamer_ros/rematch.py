"""Publishers and subscriptions that are made anew when the ROS graph lists a peer they have not matched.

On a loaded machine a DDS discovery can go wrong for good between two endpoints: the graph lists the
other side, a new participant matches it at once, yet this endpoint never does (its match count stays 0),
so nothing flows between them. Seen once in CI with Fast DDS: image_source's image publisher never matched
hand_mesh_node's subscription, and a lockstep run waited until its timeout. An endpoint made anew is a
new endpoint, discovered afresh.

An other side with an incompatible QoS looks the same (listed, never matched); it gets a new endpoint
every ``after_s`` and a warning that says so.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

#: Seconds a listed peer may stay unmatched before the endpoint is made anew.
REMATCH_AFTER_S: float = 5.0


class _Rematching(ABC):
    """The shared rule; subclasses say how to make, count and destroy their kind of endpoint."""

    peer_kind = ""  #: what the other side is called in the warning

    def __init__(self, node, after_s: float, clock: Callable[[], float]) -> None:
        self._node = node
        self.after_s, self._clock = float(after_s), clock
        self.remakes = 0  #: how often the endpoint was made anew
        self._unmatched_since: float | None = None
        self.endpoint = self._make()

    @abstractmethod
    def _make(self):
        """A new endpoint."""

    @abstractmethod
    def _listed(self) -> int:
        """Peers the graph lists on the endpoint's topic."""

    @abstractmethod
    def _matched(self) -> int:
        """Peers the endpoint has matched."""

    @abstractmethod
    def _destroy(self) -> None:
        """Remove the endpoint from the node."""

    def check(self) -> bool:
        """Call it now and then (each tick): True when the endpoint was just made anew, because the graph
        has listed a peer on its topic that it has not matched for ``after_s``."""
        listed = self._listed()
        if listed == 0 or self._matched() > 0:
            self._unmatched_since = None
            return False
        now = self._clock()
        if self._unmatched_since is None:
            self._unmatched_since = now
            return False
        if now - self._unmatched_since < self.after_s:
            return False
        self._node.get_logger().warning(
            f"{self.endpoint.topic_name}: {listed} {self.peer_kind}(s) listed but none matched for "
            f"{self.after_s:.0f} s (a lost DDS discovery, or an incompatible QoS): made anew"
        )
        self._destroy()
        self.endpoint = self._make()
        self.remakes += 1
        self._unmatched_since = None
        return True


class RematchingPublisher(_Rematching):
    """``node.create_publisher(msg_type, topic, qos)`` (as :attr:`publisher`), made anew by :meth:`check`
    when a listed subscriber stays unmatched."""

    peer_kind = "subscriber"

    def __init__(
        self, node, msg_type, topic: str, qos, after_s: float = REMATCH_AFTER_S, clock=time.monotonic
    ) -> None:
        self._args = (msg_type, topic, qos)
        super().__init__(node, after_s, clock)

    @property
    def publisher(self):
        return self.endpoint

    def _make(self):
        return self._node.create_publisher(*self._args)

    def _listed(self) -> int:
        return self._node.count_subscribers(self.endpoint.topic_name)

    def _matched(self) -> int:
        return self.endpoint.get_subscription_count()

    def _destroy(self) -> None:
        self._node.destroy_publisher(self.endpoint)


class RematchingSubscription(_Rematching):
    """``node.create_subscription(msg_type, topic, callback, qos)`` (as :attr:`subscription`), made anew by
    :meth:`check` when a listed publisher stays unmatched."""

    peer_kind = "publisher"

    def __init__(
        self,
        node,
        msg_type,
        topic: str,
        callback,
        qos,
        after_s: float = REMATCH_AFTER_S,
        clock=time.monotonic,
    ) -> None:
        self._args = (msg_type, topic, callback, qos)
        super().__init__(node, after_s, clock)

    @property
    def subscription(self):
        return self.endpoint

    def _make(self):
        return self._node.create_subscription(*self._args)

    def _listed(self) -> int:
        return self._node.count_publishers(self.endpoint.topic_name)

    def _matched(self) -> int:
        return self.endpoint.get_publisher_count()

    def _destroy(self) -> None:
        self._node.destroy_subscription(self.endpoint)


__all__ = ["REMATCH_AFTER_S", "RematchingPublisher", "RematchingSubscription"]
