"""Meshes as files: .obj / .ply round trips (inverse pairs), names with side and track id; the side view."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core.mesh_io import mesh_stem, read_obj, read_ply, write_obj, write_ply


def test_obj_and_ply_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    vertices = rng.uniform(-0.1, 0.6, (778, 3))
    faces = rng.integers(0, 778, (1538, 3))
    write_obj(tmp_path / "h.obj", vertices, faces, comment="right hand\nmetres")
    v, f = read_obj(tmp_path / "h.obj")
    np.testing.assert_allclose(v, vertices, atol=5e-7)  # 6 decimals = micrometres
    np.testing.assert_array_equal(f, faces)
    assert (tmp_path / "h.obj").read_text().startswith("# right hand\n# metres\nv ")
    write_ply(tmp_path / "h.ply", vertices, faces, (70, 150, 255))
    v, f, c = read_ply(tmp_path / "h.ply")
    np.testing.assert_allclose(v, vertices, atol=5e-7)
    np.testing.assert_array_equal(f, faces)
    assert c.shape == (778, 3) and (c == [70, 150, 255]).all()
    (tmp_path / "bad.ply").write_text("solid\n")
    with pytest.raises(ValueError, match=r"not an ASCII \.ply"):
        read_ply(tmp_path / "bad.ply")


def test_mesh_names_carry_side_and_track():
    assert mesh_stem("frame000004", "left", 3, 0) == "frame000004_left_track3"
    assert mesh_stem("hamer_test5", "right", None, 1) == "hamer_test5_right_1"


def test_side_view_turns_the_hands_about_the_vertical_axis():
    from fast_hamer_core.geometry import PinholeCamera
    from fast_hamer_core.render import render_side_view, side_view_vertices
    from fast_hamer_core.types import HandResult

    vertices = np.array([[0.1, 0.0, 0.5], [-0.1, 0.0, 0.5], [0.0, 0.05, 0.5]])
    hand = HandResult(
        "right",
        0.9,
        np.zeros(4),
        np.zeros((21, 2)),
        np.zeros((21, 3)),
        np.zeros((21, 3, 3)),
        vertices=vertices,
    )
    (turned,) = side_view_vertices([hand])
    centre = vertices.mean(axis=0)
    np.testing.assert_allclose(
        np.linalg.norm(turned - centre, axis=1), np.linalg.norm(vertices - centre, axis=1)
    )
    np.testing.assert_allclose(turned[0] - centre, [0.0, -centre[1], -0.1], atol=1e-9)  # +x -> -z
    np.testing.assert_allclose(turned[:, 1], vertices[:, 1])  # y (down) is the axis
    cam = PinholeCamera(500.0, 500.0, 160.0, 120.0, width=320, height=240)
    image = render_side_view([hand], cam, np.array([[0, 1, 2]]))
    assert image.shape == (240, 320, 3) and (image == 255).all(axis=2).mean() > 0.9
