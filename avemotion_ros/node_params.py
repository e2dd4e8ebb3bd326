"""The rclpy side of ``emotion_node``'s parameters: descriptors, declaration and ``param set`` checks.

What each parameter accepts lives in :class:`avemotion_core.stream.node_config.NodeConfig` (ROS-free, so
``replay`` validates with the same code); here it becomes the ``ParameterDescriptor`` that
``ros2 param describe`` shows and rclpy enforces: description, range or choices, and read-only for
everything that only takes effect at start-up.
"""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from avemotion_core.stream.node_config import ConfigError, NodeConfig, ParamSpec

_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ROS descriptor of one NodeConfig field.

    Doubles are declared with ``dynamic_typing``: rclpy would otherwise refuse ``hop_seconds: 1``
    (an integer) with a traceback; NodeConfig converts integers and refuses anything else.
    """
    kind = type(spec.default)
    desc = ParameterDescriptor(name=spec.name, type=_TYPES[kind], description=spec.description,
                               read_only=not spec.live, dynamic_typing=kind is float)
    if spec.choices:
        desc.additional_constraints = f"one of: {', '.join(spec.choices)}"
    if spec.low is not None and kind is float:
        bounds = FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high))
        desc.floating_point_range = [bounds]
    elif spec.low is not None:
        desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return desc


def declare(node: Node) -> None:
    """Declare every NodeConfig parameter on ``node`` (a ConfigError for a type rclpy refuses).

    Declared when the node is created, so ``ros2 param`` works on an unconfigured lifecycle node;
    the values are validated together by :func:`read` when the node is configured.
    """
    try:
        for spec in NodeConfig.specs():
            node.declare_parameter(spec.name, spec.default, descriptor(spec))
    except ParameterException as exc:  # a type rclpy refuses, e.g. a string where an integer is declared
        raise ConfigError(str(exc)) from exc
    node.add_pre_set_parameters_callback(_doubles_as_doubles)


def read(node: Node) -> NodeConfig:
    """The node's current parameter values, validated as one NodeConfig (or a ConfigError)."""
    return NodeConfig.from_values({name: node.get_parameter(name).value for name in NodeConfig.defaults()})


def _doubles_as_doubles(params: list[Parameter]) -> list[Parameter]:
    """``ros2 param set ... min_confidence 1`` stores the double 1.0 (range-checked as a double).

    rclpy runs this before validation for every run-time set (not at declaration, where NodeConfig
    converts), so a dynamically typed double does not turn into an integer parameter.
    """
    doubles = {spec.name for spec in NodeConfig.specs() if type(spec.default) is float}
    return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
            if p.name in doubles and p.type_ == Parameter.Type.INTEGER else p for p in params]
