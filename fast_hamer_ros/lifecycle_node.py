"""``hand_mesh_node`` as a managed (lifecycle) node, and a small client that drives one.

``hand_mesh_node --ros-args -p managed:=true`` (or ``managed: true`` in the params file) runs
:class:`ManagedHandMeshNode` instead of the plain node. Same parameters, topics and frame path (the
:class:`~fast_hamer_ros.hand_mesh_node.HandMeshFrames` mixin); only *when* each step runs differs:

=============  ======================================================================================
transition     what the node does
=============  ======================================================================================
(start)        declares its parameters, nothing else: unconfigured, no model loaded, nothing published
configure      checks the parameters and loads the models, makes the publishers; a bad parameter or a
               model that does not load logs the reason and the node stays unconfigured (FAILURE)
activate       subscribes to image / camera_info / depth, publishes every output, /diagnostics
deactivate     unsubscribes, lets the frame in flight finish, then publishes nothing; models kept
cleanup        destroys the publishers and releases the models (back to unconfigured)
shutdown       from any state: stops and releases whatever is running (finalized)
=============  ======================================================================================

Drive it with ``ros2 lifecycle set /hand_mesh_node configure`` (a ROS install), a lifecycle manager,
``launch/hands.launch.py managed:=true`` (launch_ros ``LifecycleNode``), or ``fast-hamer-ros-run
--managed``, which configures and activates it with :func:`activate` below
(``python -m fast_hamer_ros.lifecycle_node activate [NODE]``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from fast_hamer_ros.hand_mesh_node import HandMeshFrames
from fast_hamer_ros.node_main import params_files
from fast_hamer_ros.node_parameters import ParameterHandling
from fast_hamer_ros.parameters import NODE_NAME

#: Configures and activates the managed hand_mesh_node of the environment's domain (:func:`main`).
ACTIVATE_COMMAND: tuple[str, ...] = (sys.executable, "-m", "fast_hamer_ros.lifecycle_node", "activate")
#: What a failed configure reports (bad parameters, missing model files, a model that does not load).
CONFIGURE_ERRORS = (FileNotFoundError, ValueError, RuntimeError, ImportError, OSError)


class ManagedHandMeshNode(HandMeshFrames, ParameterHandling, LifecycleNode):
    """The lifecycle node (see the module docstring). ``reconstructor`` may be given (tests, embedding):
    the first configure uses it instead of building one."""

    def __init__(self, reconstructor=None, **node_kwargs) -> None:
        self._init_frames(reconstructor)
        super().__init__(NODE_NAME, **node_kwargs)
        self._declare_parameters(defer_errors=True)  # a bad value fails configure, with the reason
        self.get_logger().info("managed node: unconfigured (configure loads the models)")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._parameter_errors:
            for reason in self._parameter_errors:
                self.get_logger().error(f"configure failed: {reason}")
            return TransitionCallbackReturn.FAILURE
        try:
            self._load()
            self._create_outputs()
        except CONFIGURE_ERRORS as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._log_started()
        self.get_logger().info("configured (inactive): activate to start")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._start()
        self.get_logger().info("active")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        self.get_logger().info("inactive (models kept)")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("unconfigured (models released)")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._publishing:
            self._stop()
        self._release()
        self.get_logger().info(f"shut down from {state.label}")
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in {state.label}: releasing everything")
        self._publishing = False
        self._release()
        return TransitionCallbackReturn.SUCCESS  # -> unconfigured

    def _release(self) -> None:
        self._destroy_outputs()
        self._unload()


# ---------------------------------------------------------------------------------------------- choice
def managed_requested(argv: Sequence[str]) -> bool:
    """Whether a ``hand_mesh_node`` command line asks for the managed node: the last ``-p managed:=...``
    (``--param``) after ``--ros-args``, else ``managed`` in the node's section (``hand_mesh_node``,
    ``/**/hand_mesh_node``, ``/**``) of the last ``--params-file`` that sets it; default False. A value that
    is not a bool is left to the node's declaration, which refuses it with the reason."""
    value = None
    for name in params_files(argv):
        try:
            data = yaml.safe_load(Path(name).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue  # run_node reports a bad file
        for key, section in data.items() if isinstance(data, dict) else ():
            if str(key).rstrip("/").split("/")[-1] in (NODE_NAME, "**") and isinstance(section, dict):
                params = section.get("ros__parameters") or {}
                if isinstance(params, dict) and "managed" in params:
                    value = params["managed"]
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-p", "--param") and argv[i + 1].startswith("managed:="):
            try:
                value = yaml.safe_load(argv[i + 1].split(":=", 1)[1])
            except yaml.YAMLError:
                value = None
    return value is True


# ---------------------------------------------------------------------------------------------- client
class LifecycleClient:
    """Calls a lifecycle node's ``get_state`` / ``change_state`` services from ``node`` (an rclpy node of
    the caller). ``spin(future, timeout_s)`` waits for an answer (default: rclpy's
    ``spin_until_future_complete`` on ``node``; pass your executor's when ``node`` has one)."""

    def __init__(self, node, target: str, spin=None) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self._node = node
        self._spin = spin
        self._get = node.create_client(GetState, f"{target}/get_state")
        self._change = node.create_client(ChangeState, f"{target}/change_state")

    def wait(self, timeout_s: float) -> bool:
        """True once both services are available."""
        return self._get.wait_for_service(timeout_sec=timeout_s) and self._change.wait_for_service(
            timeout_sec=timeout_s
        )

    def _call(self, client, request, timeout_s: float):
        import rclpy

        future = client.call_async(request)
        if self._spin is not None:
            self._spin(future, timeout_s)
        else:
            rclpy.spin_until_future_complete(self._node, future, timeout_sec=timeout_s)
        if not future.done():
            raise TimeoutError(f"{client.srv_name} did not answer in {timeout_s:.0f} s")
        return future.result()

    def get_state(self, timeout_s: float = 10.0) -> str:
        """The node's current state label ('unconfigured', 'inactive', 'active', 'finalized')."""
        from lifecycle_msgs.srv import GetState

        return self._call(self._get, GetState.Request(), timeout_s).current_state.label

    def change_state(self, transition: str, timeout_s: float = 120.0) -> bool:
        """Trigger ``transition`` ('configure', 'activate', 'deactivate', 'cleanup', 'shutdown'); True
        when the node accepted and completed it (a shutdown picks the one of the current state)."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        ids = {
            "configure": Transition.TRANSITION_CONFIGURE,
            "activate": Transition.TRANSITION_ACTIVATE,
            "deactivate": Transition.TRANSITION_DEACTIVATE,
            "cleanup": Transition.TRANSITION_CLEANUP,
        }
        if transition == "shutdown":
            state = self.get_state()
            ids["shutdown"] = {
                "unconfigured": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
                "inactive": Transition.TRANSITION_INACTIVE_SHUTDOWN,
                "active": Transition.TRANSITION_ACTIVE_SHUTDOWN,
            }.get(state, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        if transition not in ids:
            raise ValueError(f"unknown transition {transition!r}: one of {', '.join([*ids, 'shutdown'])}")
        request = ChangeState.Request()
        request.transition.id = ids[transition]
        return bool(self._call(self._change, request, timeout_s).success)


def activate(target: str = NODE_NAME, timeout_s: float = 120.0) -> int:
    """Configure, then activate, the lifecycle node ``target`` (in this environment's ROS domain); returns
    0, or 1 with the reason on stderr (not found, configure refused: see the node's log)."""
    import rclpy

    rclpy.init(args=[])
    node = rclpy.create_node("hand_mesh_lifecycle_client")
    try:
        client = LifecycleClient(node, target)
        if not client.wait(timeout_s):
            print(f"lifecycle: no lifecycle node {target} found in {timeout_s:.0f} s", file=sys.stderr)
            return 1
        for transition in ("configure", "activate"):
            if not client.change_state(transition, timeout_s):
                print(f"lifecycle: {target} refused {transition} (its log says why)", file=sys.stderr)
                return 1
        print(f"lifecycle: {target} is {client.get_state()}")
        return 0
    except TimeoutError as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fast_hamer_ros.lifecycle_node",
        description="Configure and activate a managed hand_mesh_node (what `fast-hamer-ros-run --managed` "
        "does after starting it).",
    )
    parser.add_argument("command", choices=("activate",), help="configure, then activate")
    parser.add_argument("node", nargs="?", default=NODE_NAME, help=f"node name (default {NODE_NAME})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per step (default 120)")
    args = parser.parse_args(argv)
    return activate(args.node, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
