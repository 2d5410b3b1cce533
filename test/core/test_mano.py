"""MANO loading (official chumpy pickle without chumpy, npz, zip), import, and the 21-joint layer."""

from __future__ import annotations

import contextlib
import io
import pickle
import sys

import numpy as np
import pytest
import torch
from fixtures.cli import run_cli
from fixtures.mano import (
    make_synthetic_mano_arrays,
    synthetic_mano_pkl_bytes,
    write_synthetic_mano_pkl,
    write_synthetic_mano_zip,
)

from fast_hamer_core import skeleton
from fast_hamer_core.cli import mano as mano_cli
from fast_hamer_core.geometry import axis_angle_to_rotmat
from fast_hamer_core.mano import (
    FINGERTIP_VERTEX_IDS,
    MANO21,
    MANO_PARENTS,
    MANOFileError,
    global_joint_rotations,
    import_mano,
    load_mano_arrays,
    resolve_mano_path,
)

torch.set_num_threads(1)


def random_rotations(gen: torch.Generator, *shape: int, scale: float = 0.5) -> torch.Tensor:
    return axis_angle_to_rotmat(scale * torch.randn(*shape, 3, generator=gen))


@pytest.fixture(scope="module")
def mano(synthetic_mano_npz) -> MANO21:
    return MANO21(synthetic_mano_npz)


# ---------------------------------------------------------------------------------------------- loading


def test_chumpy_pickle_loads_without_chumpy_and_matches_npz(synthetic_mano_pkl, synthetic_mano_npz):
    assert synthetic_mano_pkl.read_bytes()[:2] == b"\x80\x02"  # protocol 2, as the official file
    assert b"chumpy.ch\nCh" in synthetic_mano_pkl.read_bytes()
    from_pkl = load_mano_arrays(synthetic_mano_pkl)
    from_npz = load_mano_arrays(synthetic_mano_npz)
    assert "chumpy" not in sys.modules and not any(m.startswith("chumpy") for m in sys.modules)
    raw = make_synthetic_mano_arrays(0)
    assert set(from_pkl) == set(from_npz)
    for key, value in from_pkl.items():
        np.testing.assert_array_equal(value, from_npz[key], err_msg=key)
    np.testing.assert_allclose(from_pkl["shapedirs"], raw["shapedirs"], rtol=1e-6)  # through chumpy Select
    np.testing.assert_allclose(from_pkl["J_regressor"], raw["J_regressor"], rtol=1e-6)  # sparse -> dense
    assert from_pkl["J_regressor"].shape == (16, 778)
    assert from_pkl["f"].dtype == np.int64 and from_pkl["f"].shape == (1538, 3)
    assert from_pkl["kintree_table"][0].tolist() == list(MANO_PARENTS)  # 4294967295 -> -1


def test_protocol_1_pickle_with_copy_reg_reconstructor(tmp_path, synthetic_mano_npz):
    data = synthetic_mano_pkl_bytes(protocol=1)
    assert b"copy_reg\n_reconstructor" in data and b"chumpy.ch\nCh" in data
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(data)
    ref = load_mano_arrays(synthetic_mano_npz)
    for key, value in load_mano_arrays(path).items():
        np.testing.assert_array_equal(value, ref[key], err_msg=key)


def test_plain_numpy_pickle_and_zip(tmp_path, synthetic_mano_npz):
    plain = write_synthetic_mano_pkl(tmp_path / "plain" / "MANO_RIGHT.pkl", chumpy=False)
    zipped = write_synthetic_mano_zip(tmp_path / "mano_v1_2.zip")
    ref = load_mano_arrays(synthetic_mano_npz)
    for path in (plain, zipped):
        arrays = load_mano_arrays(path)
        np.testing.assert_array_equal(arrays["v_template"], ref["v_template"], err_msg=str(path))


def test_import_mano_writes_npz_that_loads(tmp_path, synthetic_mano_pkl, monkeypatch):
    monkeypatch.setenv("FAST_HAMER_MODELS", str(tmp_path / "models"))
    out = import_mano(write_synthetic_mano_zip(tmp_path / "mano_v1_2.zip"))
    assert out == tmp_path / "models" / "mano" / "MANO_RIGHT.npz"
    with np.load(out, allow_pickle=False) as npz:  # plain numpy: no pickle needed
        assert npz["f"].dtype == np.int64 and npz["posedirs"].dtype == np.float32
    # The zip also holds MANO_LEFT.pkl (another random hand): RIGHT must have been taken.
    np.testing.assert_array_equal(
        load_mano_arrays(out)["v_template"], load_mano_arrays(synthetic_mano_pkl)["v_template"]
    )
    assert resolve_mano_path(None) == out
    assert MANO21().faces.shape == (1538, 3)  # None -> the imported model


def test_truncated_pickle_fails_clearly(tmp_path):
    data = synthetic_mano_pkl_bytes()
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_mano_arrays(path)


def test_missing_key_fails_naming_it(tmp_path):
    arrays = make_synthetic_mano_arrays()
    del arrays["posedirs"]
    path = write_synthetic_mano_pkl(tmp_path / "MANO_RIGHT.pkl", arrays=arrays)
    with pytest.raises(ValueError, match=r"missing key.*posedirs"):
        load_mano_arrays(path)


def test_wrong_shape_fails_naming_it(tmp_path):
    arrays = make_synthetic_mano_arrays()
    arrays["weights"] = arrays["weights"][:, :15]
    with pytest.raises(ValueError, match=r"weights has shape \(778, 15\)"):
        load_mano_arrays(write_synthetic_mano_pkl(tmp_path / "MANO_RIGHT.pkl", arrays=arrays))


def test_pickle_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(ValueError, match="refusing to load"):
        load_mano_arrays(path)
    assert out.getvalue() == ""


def test_missing_file_message(tmp_path, monkeypatch):
    monkeypatch.setenv("FAST_HAMER_MODELS", str(tmp_path / "empty"))
    with pytest.raises(MANOFileError) as info:
        resolve_mano_path(None)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for part in ("MANO_RIGHT.pkl", "MANO_RIGHT.npz", "https://mano.is.tue.mpg.de", "fast-hamer mano import",
                 str(tmp_path / "empty" / "mano")):  # fmt: skip
        assert part in msg
    with pytest.raises(MANOFileError, match="does not exist"):
        MANO21(tmp_path / "nowhere.pkl")


def run_mano_cli(argv: list[str]) -> int:
    """Parse with the ``mano`` sub-command alone (as ``fast-hamer`` registers it) and run it."""
    return run_cli(mano_cli, argv, prog="fast-hamer")


def test_cli_import_and_info(tmp_path, synthetic_mano_pkl, capsys):
    models = tmp_path / "models"
    assert run_mano_cli(["mano", "import", str(synthetic_mano_pkl), "--models-dir", str(models)]) == 0
    assert (models / "mano" / "MANO_RIGHT.npz").is_file()
    assert run_mano_cli(["mano", "info", str(models / "mano" / "MANO_RIGHT.npz")]) == 0
    out = capsys.readouterr().out
    assert "vertices: 778" in out and "faces: 1538" in out
    bad = tmp_path / "bad" / "MANO_RIGHT.pkl"
    bad.parent.mkdir()
    bad.write_bytes(b"\x80\x02}q\x00(U")
    with pytest.raises(ValueError, match="truncated"):  # the dispatcher prints it as one line, exit 2
        run_mano_cli(["mano", "info", str(bad)])


# ---------------------------------------------------------------------------------------------- layer


def test_counts_and_no_licensed_data_in_state_dict(mano):
    gen = torch.Generator().manual_seed(0)
    out = mano(random_rotations(gen, 2, 1), random_rotations(gen, 2, 15), torch.randn(2, 10, generator=gen))
    assert out.vertices.shape == (2, 778, 3) and out.joints.shape == (2, 21, 3)
    assert mano.faces.shape == (1538, 3) and mano.faces.dtype == np.int64
    assert mano.state_dict() == {}  # MANO buffers are non-persistent (licence)


def test_zero_pose_reproduces_template(mano, synthetic_mano_arrays):
    eye = torch.eye(3)
    out = mano(eye.expand(1, 1, 3, 3), eye.expand(1, 15, 3, 3), torch.zeros(1, 10))
    np.testing.assert_allclose(out.vertices[0].numpy(), synthetic_mano_arrays["v_template"], atol=1e-6)
    rest_joints = synthetic_mano_arrays["J_regressor"] @ synthetic_mano_arrays["v_template"]  # (16, 3)
    for k, m in enumerate(skeleton.MANO_TO_OPENPOSE):
        if m < 16:
            np.testing.assert_allclose(out.joints[0, k].numpy(), rest_joints[m], atol=1e-6, err_msg=str(k))


def test_joint_order_fingertips(mano):
    gen = torch.Generator().manual_seed(1)
    out = mano(random_rotations(gen, 1, 1), random_rotations(gen, 1, 15), torch.randn(1, 10, generator=gen))
    tips = out.vertices[:, list(FINGERTIP_VERTEX_IDS)]  # thumb, index, middle, ring, pinky
    torch.testing.assert_close(out.joints[:, [4, 8, 12, 16, 20]], tips)
    assert [skeleton.JOINT_NAMES[i] for i in (4, 8, 12, 16, 20)] == [
        "thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip"]  # fmt: skip


def test_matches_smplx_mano_layer_as_hamer_calls_it(synthetic_mano_arrays):
    """Same numbers as smplx.MANOLayer(..., pose2rot=False) + HaMeR's tips and joint map."""
    import smplx
    from smplx.utils import Struct

    arrays = load_mano_arrays_from_raw(synthetic_mano_arrays)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning about 10 betas
        layer = smplx.MANOLayer("", data_struct=Struct(**arrays), use_pca=False, create_body_pose=False)
    ours = MANO21(arrays=arrays)
    gen = torch.Generator().manual_seed(2)
    go, hp, betas = random_rotations(gen, 2, 1, scale=1.5), random_rotations(gen, 2, 15), torch.randn(2, 10)
    ref = layer(global_orient=go, hand_pose=hp, betas=betas, pose2rot=False)
    ref_joints = torch.cat([ref.joints, ref.vertices[:, list(FINGERTIP_VERTEX_IDS)]], 1)[
        :, skeleton.MANO_TO_OPENPOSE
    ]
    out = ours(go, hp, betas)
    torch.testing.assert_close(out.vertices, ref.vertices, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.joints, ref_joints, atol=1e-6, rtol=1e-5)


def load_mano_arrays_from_raw(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buf = io.BytesIO()
    np.savez(buf, **raw)
    buf.seek(0)
    with np.load(buf) as npz:
        return {k: npz[k] for k in npz.files}


def test_global_joint_rotations_compose_along_tree():
    gen = torch.Generator().manual_seed(3)
    go, hp = random_rotations(gen, 2, 1), random_rotations(gen, 2, 15)
    g = global_joint_rotations(go, hp)
    assert g.shape == (2, 16, 3, 3)
    # Thumb tip joint 15: wrist @ 13 @ 14 @ 15 (parents 13 <- 14 <- 15).
    torch.testing.assert_close(g[:, 15], go[:, 0] @ hp[:, 12] @ hp[:, 13] @ hp[:, 14])
    # Wrist-only rotation rotates every joint frame by the same amount.
    eye15 = torch.eye(3).expand(2, 15, 3, 3)
    torch.testing.assert_close(global_joint_rotations(go, eye15), go.expand(2, 16, 3, 3))
    g_rot = global_joint_rotations(go, hp)
    g_id = global_joint_rotations(torch.eye(3).expand(2, 1, 3, 3), hp)
    torch.testing.assert_close(g_rot, go @ g_id)


def test_wrist_rotation_rotates_the_hand_about_the_wrist(mano):
    gen = torch.Generator().manual_seed(4)
    rot, hp, betas = random_rotations(gen, 1, 1, scale=2.0), random_rotations(gen, 1, 15), torch.randn(1, 10)
    base = mano(torch.eye(3).expand(1, 1, 3, 3), hp, betas)
    turned = mano(rot, hp, betas)
    wrist = base.joints[:, :1]  # the root joint stays put
    torch.testing.assert_close(turned.joints[:, :1], wrist)
    expected = ((base.vertices - wrist) @ rot[:, 0].transpose(-1, -2)) + wrist
    torch.testing.assert_close(turned.vertices, expected, atol=1e-6, rtol=1e-5)


def test_float64_module_and_inputs_cast(mano):
    out = mano(torch.eye(3, dtype=torch.float64).expand(1, 1, 3, 3), torch.eye(3).expand(1, 15, 3, 3).half(),
               torch.zeros(1, 10, dtype=torch.float64))  # fmt: skip
    assert out.vertices.dtype == torch.float32


def test_runs_on_another_device(synthetic_mano_arrays):
    """Every tensor the forward creates follows the buffers' device (checked on 'meta': no data)."""
    mano = MANO21(arrays=synthetic_mano_arrays).to("meta")
    eye = torch.eye(3, device="meta")
    out = mano(eye.expand(2, 1, 3, 3), eye.expand(2, 15, 3, 3), torch.zeros(2, 10, device="meta"))
    assert out.vertices.device.type == "meta" and out.joints.shape == (2, 21, 3)


def test_garbage_npz_fails_with_a_clear_message(tmp_path):
    garbage = tmp_path / "MANO_RIGHT.npz"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"not an \.npz archive") as err:
        load_mano_arrays(garbage)
    assert "allow_pickle" not in str(err.value)
    objects = tmp_path / "objects" / "MANO_RIGHT.npz"
    objects.parent.mkdir()
    np.savez(objects, v_template=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="holds Python objects") as err:
        load_mano_arrays(objects)
    assert "allow_pickle" not in str(err.value)
