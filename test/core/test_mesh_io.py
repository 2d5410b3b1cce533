"""Meshes as files: .obj / .ply written and read back (inverse pairs), file names with side and track id."""

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
