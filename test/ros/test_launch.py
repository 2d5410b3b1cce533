"""launch/hands.launch.py (parsed with ast: launch/launch_ros are not installable here), the YAML and
the RViz config agree with the node."""

from __future__ import annotations

import ast

import yaml
from ros_harness import PARAMS_FILE, REPO_ROOT

from fast_hamer_ros.parameters import NODE_NAME, PARAMETERS_BY_NAME
from fast_hamer_ros.run import node_parameters_from_yaml

LAUNCH_FILE = REPO_ROOT / "launch" / "hands.launch.py"
RVIZ_FILE = REPO_ROOT / "config" / "hands.rviz"
#: The node's subscriptions (relative names) that the launch file remaps.
NODE_INPUTS = {"image", "image/compressed", "camera_info", "depth"}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name
    ]


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _launch_config_name(node: ast.expr) -> str | None:
    """'x' for LaunchConfiguration("x") or ParameterValue(LaunchConfiguration("x"), ...)."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ParameterValue":
        node = node.args[0]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "LaunchConfiguration":
        return node.args[0].value
    return None


TREE = ast.parse(LAUNCH_FILE.read_text())
ARGUMENTS = {c.args[0].value: c for c in _calls(TREE, "DeclareLaunchArgument")}
#: Node descriptions: Node(...) calls with keywords, and the dict(...) the plain and lifecycle actions share.
NODES = {
    ast.literal_eval(_kw(c, "executable")): c
    for c in _calls(TREE, "Node") + _calls(TREE, "dict")
    if _kw(c, "executable") is not None
}


def test_launch_arguments_are_declared_with_descriptions():
    topics = {"namespace", "image", "camera_info", "depth"}
    assert set(ARGUMENTS) == topics | {
        "params_file",
        "checkpoint",
        "device",
        "rviz",
        "rviz_fixed_frame",
        "managed",
    }
    for name, call in ARGUMENTS.items():
        description = _kw(call, "description")
        assert isinstance(description, ast.Constant) and len(description.value) > 5, name
        assert _kw(call, "default_value") is not None, name
    assert ast.literal_eval(_kw(ARGUMENTS["rviz"], "default_value")) == "false"
    assert ast.literal_eval(_kw(ARGUMENTS["managed"], "default_value")) == "false"
    # Every argument is used somewhere below its declaration.
    used = {_launch_config_name(n) for n in ast.walk(TREE)} - {None}
    assert used == set(ARGUMENTS)


def test_launch_starts_the_node_with_the_yaml_and_only_declared_parameter_overrides():
    node = NODES["hand_mesh_node"]
    assert ast.literal_eval(_kw(node, "package")) == "fast_hamer_ros"
    assert ast.literal_eval(_kw(node, "name")) == NODE_NAME
    params_file_default = ast.unparse(_kw(ARGUMENTS["params_file"], "default_value"))
    assert "'config', 'hands.yaml'" in params_file_default
    (params_file, overrides) = _kw(node, "parameters").elts
    assert _launch_config_name(params_file) == "params_file"
    yaml_values = node_parameters_from_yaml(PARAMS_FILE)
    for key, value in zip(overrides.keys, overrides.values, strict=True):
        name = key.value
        assert name in PARAMETERS_BY_NAME, f"launch file sets undeclared parameter {name!r}"
        argument = _launch_config_name(value)
        # The launch default equals the YAML's, so launching without the argument changes nothing.
        default = ast.literal_eval(_kw(ARGUMENTS[argument], "default_value"))
        expected = yaml_values[name]
        if isinstance(expected, bool):  # launch arguments are text: "true" / "false"
            expected = "true" if expected else "false"
        assert default == expected, name
    remapped = {ast.literal_eval(pair.elts[0]) for pair in _kw(node, "remappings").elts}
    assert remapped == NODE_INPUTS


def test_managed_runs_the_same_node_as_a_lifecycle_node():
    actions = {}
    for call in _calls(TREE, "Node") + _calls(TREE, "LifecycleNode"):
        if any(k.arg is None and ast.unparse(k.value) == "hand_mesh_node" for k in call.keywords):
            condition = _kw(call, "condition")
            actions[call.func.id] = (condition.func.id, _launch_config_name(condition.args[0]))
    assert actions == {
        "Node": ("UnlessCondition", "managed"),
        "LifecycleNode": ("IfCondition", "managed"),
    }


def test_rviz_is_optional_and_shows_the_node_outputs():
    rviz = NODES["rviz2"]
    assert _launch_config_name(_kw(rviz, "condition").args[0]) == "rviz"
    assert "'config', 'hands.rviz'" in ast.unparse(_kw(rviz, "arguments"))
    config = yaml.safe_load(RVIZ_FILE.read_text())
    displays = config["Visualization Manager"]["Displays"]
    by_class = {d["Class"]: d for d in displays}
    assert by_class["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/hands/markers"
    assert by_class["rviz_default_plugins/Image"]["Topic"]["Value"] == "/hands/overlay"
    assert "rviz_default_plugins/TF" in by_class
    fixed = config["Visualization Manager"]["Global Options"]["Fixed Frame"]
    assert fixed == ast.literal_eval(_kw(ARGUMENTS["rviz_fixed_frame"], "default_value"))
