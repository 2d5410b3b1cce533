"""rosbag2 recordings (MCAP and sqlite3) without a ROS install, through ``rosbags``.

- :mod:`.images`: ROS image messages (``sensor_msgs/Image``, ``CompressedImage``) -> numpy, duck-typed
  so the messages of ``rosbags`` and of rclpy both work.
- :mod:`.reader`: :class:`BagReader` lists a bag's topics, picks the colour / CameraInfo / depth topics
  and yields :class:`BagFrame` (stamped RGB + intrinsics + aligned depth), and plain messages.
- :mod:`.writer`: :class:`BagWriter` writes a rosbag2 MCAP (already serialised CDR or message objects).

ROS-free: ``fast_hamer_ros`` plays and records bags with these.
"""

from fast_hamer_core.bags.images import decode_color, decode_depth_m
from fast_hamer_core.bags.reader import BagError, BagFrame, BagReader, is_bag, typestore
from fast_hamer_core.bags.writer import BagWriter, bag_directory

__all__ = [
    "BagError",
    "BagFrame",
    "BagReader",
    "BagWriter",
    "bag_directory",
    "decode_color",
    "decode_depth_m",
    "is_bag",
    "typestore",
]
