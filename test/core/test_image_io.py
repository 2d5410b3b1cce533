"""The one image decoder: header sizes, truncated files, size limits, EXIF orientation (real files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fixtures.data import HANDS_DIR
from fixtures.images import jpeg_with_orientation, png_header_only

from fast_hamer_core.image_io import (
    ImageDecodeError,
    check_encoded,
    decode_rgb,
    encoded_image_size,
    read_rgb,
)

PHOTO = HANDS_DIR / "hamer_test5.jpg"


def _gradient(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 5, (x + y) * 2], -1).clip(0, 255).astype(np.uint8)


def test_header_sizes_of_real_jpeg_and_png_match_the_decoded_image():
    data = PHOTO.read_bytes()
    rgb = read_rgb(PHOTO)
    assert encoded_image_size(data) == ("jpeg", rgb.shape[1], rgb.shape[0])
    _, png = cv2.imencode(".png", _gradient())
    assert encoded_image_size(png.tobytes()) == ("png", 64, 48)
    assert encoded_image_size(b"GIF89a....") is None


def test_truncated_jpeg_and_png_are_refused_by_the_decoder_and_by_read_rgb(tmp_path):
    data = PHOTO.read_bytes()
    with pytest.raises(ImageDecodeError, match="truncated JPEG"):
        decode_rgb(data[: len(data) // 2], "half.jpg")
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) - 100])  # cv2.imread would return a partly grey image here
    with pytest.raises(ImageDecodeError, match=r"half.jpg: truncated JPEG"):
        read_rgb(path)
    _, png = cv2.imencode(".png", _gradient())
    with pytest.raises(ImageDecodeError, match="truncated PNG"):
        decode_rgb(png.tobytes()[:-30])
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        read_rgb(tmp_path / "missing.jpg")


def test_too_many_pixels_are_refused_from_the_header_alone():
    """A header claiming 100000 x 100000 pixels is refused before any decoding (there is no image data)."""
    with pytest.raises(ImageDecodeError, match=r"100000x100000 = 10000000000 pixels is more than"):
        check_encoded(png_header_only(100_000, 100_000), max_pixels=40_000_000)
    assert check_encoded(PHOTO.read_bytes(), max_pixels=40_000_000) == tuple(read_rgb(PHOTO).shape[1::-1])
    with pytest.raises(ImageDecodeError, match="not a PNG or JPEG"):
        check_encoded(b"BM" + bytes(100), max_pixels=40_000_000)


def test_exif_orientation_is_applied_for_inference_and_ignored_on_request():
    rgb = _gradient()
    data = jpeg_with_orientation(rgb, orientation=6)  # "rotate 90 degrees clockwise to display"
    stored = decode_rgb(data, apply_orientation=False)
    shown = decode_rgb(data)
    assert stored.shape == (48, 64, 3) and shown.shape == (64, 48, 3)
    assert np.abs(stored.astype(int) - rgb).mean() < 3  # the stored pixels, JPEG-lossy
    np.testing.assert_array_equal(shown, np.rot90(stored, k=-1))
