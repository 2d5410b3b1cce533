"""rosbag2 bags (MCAP and sqlite3) via rosbags: frames, stamps, CameraInfo, depth, topic choice, writing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fixtures.bags import START_NS, write_camera_bag
from fixtures.data import HANDS_DIR

from fast_hamer_core.bags import BagError, BagReader, BagWriter, bag_directory, is_bag, typestore
from fast_hamer_core.frames import moving_sequence


@pytest.fixture(scope="module")
def sequence() -> list[np.ndarray]:
    photo = cv2.cvtColor(cv2.imread(str(HANDS_DIR / "hamer_test5.jpg")), cv2.COLOR_BGR2RGB)
    return list(moving_sequence(photo, 4, size=(160, 120)))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_raw_bag_frames_keep_pixels_stamps_rate_and_camera_info(tmp_path, sequence, storage):
    stamps = write_camera_bag(tmp_path / "bag", sequence, storage=storage, fps=15.0, fx=321.0)
    suffix = ".mcap" if storage == "mcap" else ".db3"
    assert is_bag(tmp_path / "bag") and is_bag(tmp_path / "bag" / f"bag{suffix}")
    with BagReader(tmp_path / "bag") as bag:
        assert bag.image_topic == "/camera/color/image_raw" and bag.info_topic == "/camera/color/camera_info"
        assert bag.depth_topic is None
        frames = list(bag.frames())
    assert [f.stamp_ns for f in frames] == stamps
    assert frames[1].stamp == (START_NS // 10**9, round(1e9 / 15.0))
    assert np.diff([f.log_time_ns for f in frames]).tolist() == np.diff(stamps).tolist()  # recorded rate
    for frame, rgb in zip(frames, sequence, strict=True):
        np.testing.assert_array_equal(frame.rgb, rgb)
        assert frame.frame_id == "camera_color_optical_frame" and frame.depth_m is None
        assert (frame.camera.fx, frame.camera.cx, frame.camera.width) == (321.0, 79.5, 160)
    with BagReader(tmp_path / "bag" / f"bag{suffix}") as single_file:  # the storage file alone
        assert len(list(single_file.frames())) == 4


def test_compressed_images_and_aligned_depth(tmp_path, sequence):
    depth = np.full((120, 160), 600, np.uint16)
    depth[:10] = 0  # no depth there
    write_camera_bag(tmp_path / "bag", sequence, compressed=True, depth_mm=depth)
    with BagReader(tmp_path / "bag") as bag:
        assert bag.image_topic == "/camera/color/image_raw/compressed"
        assert bag.depth_topic == "/camera/aligned_depth_to_color/image_raw"
        frames = list(bag.frames())
    assert len(frames) == 4
    for frame, rgb in zip(frames, sequence, strict=True):
        assert np.abs(frame.rgb.astype(int) - rgb).mean() < 4  # JPEG
        assert frame.depth_m.shape == (120, 160) and frame.depth_m[50, 50] == pytest.approx(0.6)
        assert np.isnan(frame.depth_m[0, 0]) and frame.depth_cdr is not None
    with BagReader(tmp_path / "bag", depth_topic="none") as bag:
        assert bag.depth_topic is None and next(bag.frames()).depth_m is None


def test_ambiguous_or_missing_topics_list_the_bag(tmp_path, sequence):
    write_camera_bag(tmp_path / "bag", sequence[:1], extra_image_topics=["/camera/infra1/image_rect_raw"])
    with pytest.raises(BagError, match=r"2 colour image topics") as err:
        BagReader(tmp_path / "bag")
    assert "/camera/infra1/image_rect_raw  [sensor_msgs/msg/Image]  1 messages" in str(err.value)
    with BagReader(tmp_path / "bag", image_topic="camera/infra1/image_rect_raw") as bag:
        assert bag.image_topic == "/camera/infra1/image_rect_raw"
    with pytest.raises(BagError, match=r"image topic '/nope' is not in the bag(.|\n)*topics of"):
        BagReader(tmp_path / "bag", image_topic="/nope")
    with pytest.raises(BagError, match="not a rosbag2 bag"):
        BagReader(tmp_path)


def test_writer_round_trip_of_typed_messages(tmp_path):
    store = typestore()
    T = store.types
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](x=0.1, y=-0.2, z=0.5),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
    )
    header = T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=5, nanosec=7), frame_id="cam"
    )
    transform = T["geometry_msgs/msg/TransformStamped"](
        header=header,
        child_frame_id="right_wrist",
        transform=T["geometry_msgs/msg/Transform"](
            translation=T["geometry_msgs/msg/Vector3"](x=0.1, y=0.0, z=0.4), rotation=pose.orientation
        ),
    )
    with BagWriter(tmp_path / "out.mcap") as writer:
        for i in range(3):
            writer.write(
                "/hands/right/joints",
                "geometry_msgs/msg/PoseArray",
                10 + i,
                T["geometry_msgs/msg/PoseArray"](header=header, poses=[pose] * (i + 1)),
            )
        writer.write("/tf", "tf2_msgs/msg/TFMessage", 11, T["tf2_msgs/msg/TFMessage"](transforms=[transform]))
    assert bag_directory(tmp_path / "out.mcap") == tmp_path / "out" == writer.path
    assert writer.mcap_file.is_file() and (tmp_path / "out" / "metadata.yaml").is_file()
    from rosbags.rosbag2 import Reader

    with Reader(tmp_path / "out") as reader:
        got = [(c.topic, t, store.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert sorted((t, topic) for topic, t, _ in got) == [
        (10, "/hands/right/joints"),
        (11, "/hands/right/joints"),
        (11, "/tf"),
        (12, "/hands/right/joints"),
    ]
    poses = [m for topic, _, m in got if topic != "/tf"]
    assert len(poses[2].poses) == 3 and poses[2].poses[2].position.y == -0.2
    assert next(m for topic, _, m in got if topic == "/tf").transforms[0].child_frame_id == "right_wrist"
    with pytest.raises(FileExistsError, match="exists already"):
        BagWriter(tmp_path / "out")
