"""hand_mesh_node with managed:=true in its own process: every lifecycle transition through the real
lifecycle_msgs change_state / get_state services over DDS, and what the node does in each state."""

from __future__ import annotations

import pytest
from fixtures.data import HAND_PHOTOS
from ros_harness import (
    Rig,
    camera_info,
    hand_mesh_node,
    image_message,
    load_photo,
    wait_for_subscriber,
)

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_ros.lifecycle_node import LifecycleClient, managed_requested

FRAME = "camera_optical"
LANDMARKS = {"checkpoint": "", "device": "cpu", "stream.enabled": False}


def _client(peer) -> LifecycleClient:
    client = LifecycleClient(peer.node, "hand_mesh_node", spin=lambda f, t: peer.spin_until(f.done, t))
    assert client.wait(120.0), "no change_state / get_state services"
    return client


def _frame(sec: int):
    rgb = load_photo(HAND_PHOTOS[0])
    return image_message(rgb, sec=sec, frame_id=FRAME), camera_info(rgb.shape[1], rgb.shape[0], FRAME)


def _unsubscribed(peer, rig) -> bool:
    return peer.spin_until(lambda: rig.image_pub.get_subscription_count() == 0, 15.0)


def test_every_transition_through_the_lifecycle_services(tmp_path, peer):
    params = {**LANDMARKS, "detector_model": str(ensure_detector_model()), "managed": True}
    with hand_mesh_node(tmp_path, params) as node:
        client = _client(peer)
        rig = Rig(peer, node)
        assert client.get_state() == "unconfigured"
        assert "managed node: unconfigured" in node.log()
        assert "landmarks-only mode" not in node.log()  # no model loaded yet
        peer.spin_until(lambda: False, 1.0)
        assert rig.image_pub.get_subscription_count() == 0 and not rig.diagnostics

        assert client.change_state("configure")
        assert client.get_state() == "inactive"
        assert "landmarks-only mode" in node.log()  # the models are loaded by configure
        assert rig.image_pub.get_subscription_count() == 0

        assert client.change_state("activate")
        assert client.get_state() == "active"
        wait_for_subscriber(peer, rig.image_pub, node)
        msg, info = _frame(101)
        out = rig.send(msg, info)
        assert any(out["joints"][side] and out["joints"][side][0].poses for side in ("left", "right"))
        assert peer.spin_until(lambda: len(rig.diagnostics) > 0, 10.0), "no /diagnostics while active"

        assert client.change_state("deactivate")
        assert client.get_state() == "inactive"
        assert _unsubscribed(peer, rig), "still subscribed to images after deactivate"
        received = sum(len(v) for v in rig.joints.values())
        diagnostics = len(rig.diagnostics)
        peer.spin_until(lambda: False, 2.5)  # inactive: nothing is published, not even /diagnostics
        assert sum(len(v) for v in rig.joints.values()) == received
        assert len(rig.diagnostics) <= diagnostics + 1  # at most one in flight when it was deactivated

        assert client.change_state("activate")  # models kept: no second load
        wait_for_subscriber(peer, rig.image_pub, node)
        msg, info = _frame(102)
        rig.send(msg, info)
        assert node.log().count("landmarks-only mode") == 1

        assert client.change_state("deactivate") and client.change_state("cleanup")
        assert client.get_state() == "unconfigured"
        assert "unconfigured (models released)" in node.log()

        assert client.change_state("configure") and client.change_state("activate")  # loads again
        assert node.log().count("landmarks-only mode") == 2
        wait_for_subscriber(peer, rig.image_pub, node)
        msg, info = _frame(103)
        rig.send(msg, info)

        assert client.change_state("shutdown")  # from active
        assert client.get_state() == "finalized"
        assert "shut down from active" in node.log()
        assert _unsubscribed(peer, rig)
        assert node.alive()


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"max_hands": 99}, "max_hands"),
        ({"checkpoint": "/nonexistent/student.pt"}, "/nonexistent/student.pt"),
    ],
)
def test_a_failed_configure_stays_unconfigured_with_the_reason(tmp_path, peer, override, reason):
    params = {**LANDMARKS, "detector_model": str(ensure_detector_model()), "managed": True, **override}
    with hand_mesh_node(tmp_path, params) as node:
        client = _client(peer)
        assert not client.change_state("configure")
        assert client.get_state() == "unconfigured"
        failure = [line for line in node.log().splitlines() if "configure failed" in line]
        assert failure and reason in failure[0], node.log()[-2000:]
        assert client.change_state("shutdown")  # from unconfigured
        assert client.get_state() == "finalized"


def test_managed_is_read_from_the_command_line_and_params_files(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("/**/hand_mesh_node:\n  ros__parameters:\n    managed: true\n")
    assert managed_requested(["x", "--ros-args", "--params-file", str(params)])
    assert not managed_requested(["x", "--ros-args", "--params-file", str(params), "-p", "managed:=false"])
    assert managed_requested(["x", "--ros-args", "-p", "managed:=true"])
    assert not managed_requested(["x", "--ros-args", "-p", "managed:=yes please"])
    assert not managed_requested(["x"])
