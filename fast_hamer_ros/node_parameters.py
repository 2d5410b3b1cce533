"""The parameter side of ``hand_mesh_node`` (plain and managed): declaration from the table, clear refusals.

A mixin for an rclpy ``Node`` (or ``LifecycleNode``): :meth:`ParameterHandling._declare_parameters`
declares every :data:`~fast_hamer_ros.parameters.PARAMETERS` entry with its descriptor and keeps the
values in ``self._params`` (updated after every accepted change); a refused change is answered with the
reason. Kept apart from the node so that both node classes share it and the node file holds the frames.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.parameter import Parameter

from fast_hamer_ros.parameters import (
    PARAMETERS,
    ParamSpec,
    change_refusal,
    check_parameter,
    descriptor,
    unknown_parameter_message,
)


class ParameterHandling:
    """Mixin of the hand_mesh_node classes (before the rclpy node class in the bases)."""

    _params: dict[str, Any]

    def _declare_parameters(self, defer_errors: bool = False) -> None:
        """Declare the table, warn about unknown names, install the checks. A bad value raises ValueError
        naming it; with ``defer_errors`` (the managed node, whose configure reports it) the reasons are
        kept in ``self._parameter_errors`` instead (a value rclpy refuses is declared with its default)."""
        self._params = {}
        self._parameter_errors: list[str] = []
        for spec in PARAMETERS:
            try:
                self._declare(spec)
            except ValueError as exc:
                if not defer_errors:
                    raise
                self._parameter_errors.append(str(exc))
                if not self.has_parameter(spec.name):
                    self.declare_parameter(spec.name, spec.default, descriptor(spec), ignore_override=True)
                self._params[spec.name] = self.get_parameter(spec.name).value
        self._warn_unknown_parameters()
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._store_parameters)

    def _declare(self, spec: ParamSpec) -> None:
        try:
            value = self.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            raise ValueError(f"invalid parameter {spec.name}: {exc}") from exc
        reason = spec.check(value)
        if reason is not None:  # ranges are checked by rclpy; choices and formats here
            raise ValueError(f"invalid parameter: {reason}")
        self._params[spec.name] = value

    def _warn_unknown_parameters(self) -> None:
        """One warning per parameter given for this node (params file section, ``-p``) that it does not
        declare: a typo would otherwise be ignored silently."""
        overrides = getattr(self, "_parameter_overrides", {})  # rclpy keeps them there (no accessor)
        for name in sorted(n for n in overrides if not self.has_parameter(n)):
            self.get_logger().warning(unknown_parameter_message(name))

    def _change_refusal(self, params: list[Parameter]) -> str | None:
        """The first :func:`change_refusal` of ``params``, else None."""
        return next((r for p in params if (r := change_refusal(p.name, p.value)) is not None), None)

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """rclpy's, except that a refused change is answered (and logged) with the clear reason; rclpy's
        own reply for a wrong type is ``expected '3' got '4'``. The SetParameters services call this."""
        reason = self._change_refusal(parameter_list)
        if reason is not None:
            self.get_logger().warning(f"rejected parameter change: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        return super().set_parameters_atomically(parameter_list)

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        """Each parameter through :meth:`set_parameters_atomically`'s checks, then rclpy's."""
        results = []
        for param in parameter_list:
            reason = self._change_refusal([param])
            if reason is not None:
                self.get_logger().warning(f"rejected parameter change: {reason}")
                results.append(SetParametersResult(successful=False, reason=reason))
            else:
                results.extend(super().set_parameters([param]))
        return results

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Reject a bad value with the reason; the node keeps the old value (rclpy checks read-only,
        types and ranges before this; choices and formats are checked here)."""
        for param in params:
            reason = check_parameter(param.name, param.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _store_parameters(self, params: list[Parameter]) -> None:
        for param in params:
            self._params[param.name] = param.value
