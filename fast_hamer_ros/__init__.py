"""ROS 2 adapter of fast_hamer_core: the ``hand_mesh_node``, ``hand_retarget_node``, message conversion, demo
tools.

Modules: :mod:`~fast_hamer_ros.hand_mesh_node` (the node and its frame path),
:mod:`~fast_hamer_ros.lifecycle_node` (the same node as a managed node, and a lifecycle client),
:mod:`~fast_hamer_ros.node_parameters` and :mod:`~fast_hamer_ros.parameters` (its parameters),
:mod:`~fast_hamer_ros.node_diagnostics` (/diagnostics), :mod:`~fast_hamer_ros.node_setup` (QoS, the
pipeline from parameters), :mod:`~fast_hamer_ros.retarget_node` (human joints -> robot hand joints),
:mod:`~fast_hamer_ros.messages` and :mod:`~fast_hamer_ros.image_conversion` (message packing),
:mod:`~fast_hamer_ros.tf_publisher`, :mod:`~fast_hamer_ros.worker` (newest-frame hand-off, statistics),
:mod:`~fast_hamer_ros.image_source` and :mod:`~fast_hamer_ros.recorder` (demo nodes),
:mod:`~fast_hamer_ros.run` (pip-only launcher), :mod:`~fast_hamer_ros.bootstrap` and
:mod:`~fast_hamer_ros.environment` (set-up of the pip-installed ROS 2). No maths lives here.
"""
