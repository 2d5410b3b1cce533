"""An endpoint whose listed peer stays unmatched is made anew, and the new one delivers (real rclpy, real
DDS between two peers; only the lost discovery is simulated, by a match count stuck at 0)."""

from __future__ import annotations

from ros_harness import RosPeer
from std_msgs.msg import String

from fast_hamer_ros.rematch import RematchingPublisher, RematchingSubscription


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_unmatched_listed_subscriber_gets_a_new_publisher_that_delivers(peer: RosPeer, ros_domain):
    listener = RosPeer(ros_domain, name="listener")
    clock = _Clock()
    try:
        remade = RematchingPublisher(peer.node, String, "chatter", 10, after_s=5.0, clock=clock)
        assert not remade.check()  # nobody listed yet: nothing to do
        received = listener.collect(String, "chatter")
        first = remade.publisher
        assert peer.spin_until(lambda: first.get_subscription_count() == 1, 15.0)
        assert not remade.check() and remade.remakes == 0  # listed and matched: fine

        first.get_subscription_count = lambda: 0  # the lost discovery: listed, never matched
        assert not remade.check()  # unmatched since now
        clock.now += 4.9
        assert not remade.check() and remade.publisher is first  # not yet
        clock.now += 0.2
        assert remade.check() and remade.remakes == 1 and remade.publisher is not first
        new = remade.publisher
        assert peer.spin_until(lambda: new.get_subscription_count() == 1, 15.0)  # matched afresh

        def delivered() -> bool:  # published until the listener's side has matched the new writer too
            new.publish(String(data="hello"))
            return bool(received)

        assert listener.spin_until(delivered, 10.0, poll_s=0.1) and received[0].data == "hello"
        assert not remade.check()
    finally:
        listener.close()


def test_an_unmatched_listed_publisher_gets_a_new_subscription_that_receives(peer: RosPeer, ros_domain):
    talker = RosPeer(ros_domain, name="talker")
    clock = _Clock()
    received: list = []
    try:
        remade = RematchingSubscription(
            peer.node, String, "answers", received.append, 10, after_s=5.0, clock=clock
        )
        publisher = talker.node.create_publisher(String, "answers", 10)
        first = remade.subscription
        assert peer.spin_until(lambda: first.get_publisher_count() == 1, 15.0)
        assert not remade.check()

        first.get_publisher_count = lambda: 0  # the lost discovery
        assert not remade.check()
        clock.now += 5.1
        assert remade.check() and remade.remakes == 1 and remade.subscription is not first
        assert peer.spin_until(lambda: remade.subscription.get_publisher_count() == 1, 15.0)

        def received_one() -> bool:  # published until the talker's side has matched the new reader too
            publisher.publish(String(data="answer"))
            return bool(received)

        assert peer.spin_until(received_one, 10.0, poll_s=0.1) and received[-1].data == "answer"
    finally:
        talker.close()
