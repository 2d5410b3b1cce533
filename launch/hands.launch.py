"""Launch hand_mesh_node next to a camera driver: ``ros2 launch fast_hamer_ros hands.launch.py``.

Thin: arguments, one node, optional RViz; everything else is the node's (see config/hands.yaml).

Arguments:
  namespace         namespace of the node (e.g. the camera's, "camera"); outputs go to <ns>/hands/...
  image             image topic to subscribe (remaps ``image``; ``image/compressed`` -> <image>/compressed)
  camera_info       CameraInfo topic (remaps ``camera_info``)
  depth             aligned depth topic (remaps ``depth``; used when the YAML sets depth.enabled)
  params_file       node parameters (default: the installed config/hands.yaml)
  checkpoint        mesh checkpoint; overrides the YAML (empty: landmarks-only mode)
  device            auto | cpu | cuda | cuda:N; overrides the YAML
  rviz              true to open RViz with config/hands.rviz (overlay image, markers, TF)
  rviz_fixed_frame  RViz fixed frame: the camera's optical frame (the images' frame_id)
  managed           true: a lifecycle node (launch_ros LifecycleNode), started unconfigured; drive it
                    with ``ros2 lifecycle set /hand_mesh_node configure``, then ``activate``

Example (RealSense): ros2 launch fast_hamer_ros hands.launch.py image:=/camera/color/image_raw
  camera_info:=/camera/color/camera_info depth:=/camera/aligned_depth_to_color/image_raw rviz:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("fast_hamer_ros")
    # One description of the node; the plain or the lifecycle action runs it (the `managed` argument).
    hand_mesh_node = dict(
        package="fast_hamer_ros",
        executable="hand_mesh_node",
        name="hand_mesh_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "managed": ParameterValue(LaunchConfiguration("managed"), value_type=bool),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("image/compressed", [LaunchConfiguration("image"), "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("depth", LaunchConfiguration("depth")),
        ],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
            DeclareLaunchArgument("image", default_value="image", description="image topic to subscribe"),
            DeclareLaunchArgument("camera_info", default_value="camera_info", description="CameraInfo topic"),
            DeclareLaunchArgument("depth", default_value="depth", description="aligned depth image topic"),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "hands.yaml"]),
                description="hand_mesh_node parameters file",
            ),
            DeclareLaunchArgument(
                "checkpoint",
                default_value="mobilenetv3_large",
                description="mesh model name or checkpoint path (empty or untrained name: landmarks only)",
            ),
            DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="open RViz with config/hands.rviz"
            ),
            DeclareLaunchArgument(
                "managed",
                default_value="false",
                description="true: run hand_mesh_node as a lifecycle node (configure/activate it)",
            ),
            DeclareLaunchArgument(
                "rviz_fixed_frame",
                default_value="camera_color_optical_frame",
                description="RViz fixed frame (the images' frame_id)",
            ),
            Node(condition=UnlessCondition(LaunchConfiguration("managed")), **hand_mesh_node),
            LifecycleNode(condition=IfCondition(LaunchConfiguration("managed")), **hand_mesh_node),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                arguments=[
                    "-d",
                    PathJoinSubstitution([share, "config", "hands.rviz"]),
                    "-f",
                    LaunchConfiguration("rviz_fixed_frame"),
                ],
                condition=IfCondition(LaunchConfiguration("rviz")),
            ),
        ]
    )
