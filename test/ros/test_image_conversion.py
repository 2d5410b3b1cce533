"""sensor_msgs images <-> numpy: every encoding, row padding, endianness and each malformed case."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from ros_harness import HANDS_DIR
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from fast_hamer_ros.image_conversion import (
    ImageConversionError,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    metres_to_depth_image,
    rgb_to_compressed,
    rgb_to_image,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # odd sizes catch row/column mix-ups


def _raw_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """An Image as a driver writes it: rows of ``width*channels*bytes`` plus ``pad`` junk bytes."""
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1).view(np.uint8).reshape(h, -1)  # (H, row bytes)
    junk = np.full((h, pad), 0xAB, dtype=np.uint8)
    msg = Image()
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.is_bigendian = int(bigendian)
    msg.step = rows.shape[1] + pad
    msg.data = np.concatenate([rows, junk], axis=1).tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "pixels"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])),
        ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 9, np.uint8)])),
        ("8UC3", RGB[:, :, ::-1]),  # generic 3-channel: OpenCV's BGR order
    ],
)
def test_colour_encodings_give_the_same_rgb(encoding, pixels, pad):
    out = image_to_rgb(_raw_image(np.ascontiguousarray(pixels), encoding, pad=pad))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_grey_is_replicated_to_three_channels(pad, encoding):
    grey = RGB[:, :, 0].copy()
    out = image_to_rgb(_raw_image(grey, encoding, pad=pad))
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_rgb_to_image_and_back_are_inverses_and_copy_the_header():
    header = Header(frame_id="cam_optical")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    for encoding in ("rgb8", "bgr8"):
        msg = rgb_to_image(RGB, header, encoding=encoding)
        assert (msg.encoding, msg.step, msg.height, msg.width) == (encoding, 21, 5, 7)
        assert msg.header.frame_id == "cam_optical" and msg.header.stamp.nanosec == 345
        np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    with pytest.raises(ImageConversionError, match="uint8 RGB"):
        rgb_to_image(RGB.astype(np.float32))


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 2])
def test_depth_16uc1_millimetres_with_padding_and_endianness(bigendian, pad):
    mm = np.array([[0, 1, 500], [1234, 65535, 250]], dtype=np.uint16)
    pixels = mm.astype(">u2" if bigendian else "<u2")
    out = depth_to_metres(_raw_image(pixels, "16UC1", pad=pad, bigendian=bigendian))
    assert out.dtype == np.float32
    expected = mm.astype(np.float32) / 1000.0
    expected[0, 0] = np.nan  # 0 mm = no depth
    np.testing.assert_allclose(out, expected, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("bigendian", [False, True])
def test_depth_32fc1_metres_invalid_values_become_nan(bigendian):
    metres = np.array([[0.5, np.nan, 0.0], [np.inf, 2.25, -1.0]], dtype=np.float32)
    out = depth_to_metres(_raw_image(metres.astype(">f4" if bigendian else "<f4"), "32FC1", 4, bigendian))
    np.testing.assert_allclose(out, [[0.5, np.nan, np.nan], [np.nan, 2.25, np.nan]], equal_nan=True)


def test_depth_message_round_trip_both_encodings():
    depth = np.array([[0.4, np.nan], [1.2345, 3.0]])
    for encoding, tol in (("32FC1", 1e-7), ("16UC1", 5e-4)):
        msg = metres_to_depth_image(depth, encoding=encoding)
        np.testing.assert_allclose(depth_to_metres(msg), depth, atol=tol, equal_nan=True)


def test_compressed_real_photo_decodes_to_the_rgb_of_the_file():
    path = HANDS_DIR / "fasthamer_sample2.jpg"
    msg = CompressedImage(format="jpeg")
    msg.data = path.read_bytes()  # exactly what image_transport's compressed publisher sends
    out = compressed_to_rgb(msg)
    np.testing.assert_array_equal(out, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


def test_compressed_png_round_trip_is_lossless():
    np.testing.assert_array_equal(compressed_to_rgb(rgb_to_compressed(RGB, fmt="png")), RGB)


def _good() -> Image:
    return _raw_image(RGB, "rgb8")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "fewer than height\\*step"),
        (lambda m: setattr(m, "encoding", "yuv422_yuy2"), "unsupported image encoding 'yuv422_yuy2'"),
        (lambda m: setattr(m, "encoding", ""), "unsupported image encoding ''"),
        (lambda m: (setattr(m, "height", 0), setattr(m, "data", b"")), "empty image: height=0"),
        (lambda m: setattr(m, "width", 0), "empty image: height=5, width=0"),
        (lambda m: setattr(m, "step", 20), "step 20 is smaller than width\\*channels\\*bytes"),
        (lambda m: setattr(m, "data", bytes(m.data) + b"\0"), "data has 106 bytes, more than height\\*step"),
        (  # 4-channel data announced as rgb8: a step of width * 4 is not row padding
            lambda m: (setattr(m, "step", 28), setattr(m, "data", bytes(140))),
            "step 28 = width\\*4: 4 bytes per pixel, but 'rgb8' has 3",
        ),
    ],
)
def test_malformed_colour_messages_raise_with_the_reason(change, reason):
    msg = _good()
    change(msg)
    with pytest.raises(ImageConversionError, match=reason):
        image_to_rgb(msg)


def test_malformed_depth_and_compressed_messages_raise_with_the_reason():
    depth = metres_to_depth_image(np.ones((3, 4)), encoding="16UC1")
    depth.step = 7  # odd: fewer than 4 * 2 bytes per row
    with pytest.raises(ImageConversionError, match="step 7 is smaller"):
        depth_to_metres(depth)
    with pytest.raises(ImageConversionError, match="unsupported depth encoding 'rgb8'"):
        depth_to_metres(_good())
    with pytest.raises(ImageConversionError, match="no data"):
        compressed_to_rgb(CompressedImage(format="jpeg"))
    garbage = CompressedImage(format="jpeg")
    garbage.data = b"\xff\xd8 definitely not a jpeg"
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_rgb(garbage)
    assert issubclass(ImageConversionError, ValueError)


def test_images_over_max_pixels_are_refused_before_decoding():
    from fixtures.images import png_header_only

    with pytest.raises(ImageConversionError, match="35 pixels is more than max_image_pixels=34"):
        image_to_rgb(_good(), max_pixels=34)
    assert image_to_rgb(_good(), max_pixels=35).shape == (5, 7, 3)
    huge = CompressedImage(format="png")
    huge.data = png_header_only(100_000, 100_000)  # a header alone: refused without decoding anything
    with pytest.raises(ImageConversionError, match="100000x100000 = 10000000000 pixels is more than"):
        compressed_to_rgb(huge, max_pixels=40_000_000)
    truncated = CompressedImage(format="jpeg")
    truncated.data = (HANDS_DIR / "hamer_test5.jpg").read_bytes()[:-2000]
    with pytest.raises(ImageConversionError, match="truncated JPEG"):
        compressed_to_rgb(truncated)
