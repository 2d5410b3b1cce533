"""The parameter table, its descriptors and config/hands.yaml agree."""

from __future__ import annotations

import pytest
import yaml
from rcl_interfaces.msg import ParameterType
from ros_harness import PARAMS_FILE

from fast_hamer_ros.parameters import (
    NODE_NAME,
    PARAMETERS,
    PARAMETERS_BY_NAME,
    change_refusal,
    check_parameter,
    descriptor,
    unknown_parameter_message,
)


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def test_every_parameter_has_a_description_and_a_valid_default():
    assert len(PARAMETERS_BY_NAME) == len(PARAMETERS)
    for spec in PARAMETERS:
        assert len(spec.description) > 20, spec.name
        assert spec.check(spec.default) is None, spec.name


def test_yaml_lists_exactly_the_declared_parameters_with_valid_values():
    data = yaml.safe_load(PARAMS_FILE.read_text())
    (key,) = data
    assert key == f"/**/{NODE_NAME}"
    values = _flatten(data[key]["ros__parameters"])
    assert set(values) == set(PARAMETERS_BY_NAME)
    for name, value in values.items():
        assert check_parameter(name, value) is None, (name, value)


def test_descriptors_carry_type_range_and_read_only():
    alpha = descriptor(PARAMETERS_BY_NAME["overlay_mesh_alpha"])
    assert alpha.type == ParameterType.PARAMETER_DOUBLE and not alpha.read_only
    assert (alpha.floating_point_range[0].from_value, alpha.floating_point_range[0].to_value) == (0.0, 1.0)
    hands = descriptor(PARAMETERS_BY_NAME["max_hands"])
    assert hands.type == ParameterType.PARAMETER_INTEGER and hands.read_only
    assert (hands.integer_range[0].from_value, hands.integer_range[0].to_value) == (1, 16)
    qos = descriptor(PARAMETERS_BY_NAME["image_qos"])
    assert "sensor_data" in qos.additional_constraints
    assert descriptor(PARAMETERS_BY_NAME["publish_tf"]).type == ParameterType.PARAMETER_BOOL


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("overlay_mesh_alpha", 1.5, "out of range"),
        ("max_hands", 0, "out of range"),
        ("image_qos", "fast", "is not one of"),
        ("device", "gpu", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ("tf_prefix", "hands", "must be empty or start with a letter"),
        ("publish_tf", 1, "must be of type bool"),
        ("focal_length_px", 600, "must be of type float"),
        ("nope", 1, "unknown parameter"),
    ],
)
def test_bad_values_are_named_with_a_reason(name, value, reason):
    assert reason in check_parameter(name, value)


def test_good_values_pass():
    assert check_parameter("device", "cuda:1") is None
    assert check_parameter("tf_prefix", "cam1/hands/") is None
    assert check_parameter("tf_prefix", "") is None


def test_change_refusals_and_unknown_parameter_messages():
    assert change_refusal("max_hands", 3) == "max_hands is read-only (fixed when the node starts)"
    assert change_refusal("max_image_pixels", 2.5) == "max_image_pixels must be of type int, got float 2.5"
    assert change_refusal("camera_info_fallback", "skip_frames") is None
    assert change_refusal("use_sim_time", True) is None  # rclpy's own parameter: rclpy decides
    assert (
        change_refusal("default_frame_id", "my frame")
        == "default_frame_id='my frame' must not contain whitespace"
    )
    assert (
        unknown_parameter_message("max_hand")
        == "unknown parameter 'max_hand' ignored (did you mean 'max_hands'?)"
    )
    assert unknown_parameter_message("zzz") == "unknown parameter 'zzz' ignored"
