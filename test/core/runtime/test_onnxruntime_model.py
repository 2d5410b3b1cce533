"""ONNX export + ONNX Runtime runner vs torch: a random-weight mobilenetv3 student and a synthetic MANO.

One export (the default dynamo exporter, checked at batch 1 and 3) is shared by the module.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from fixtures.mano import write_synthetic_mano_npz

from fast_hamer_core.export import FP32_TOLERANCE, check_parity, export_onnx, random_crops
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.mano import MANO21
from fast_hamer_core.models import create_model
from fast_hamer_core.pipeline import HandReconstructor
from fast_hamer_core.runtime import (
    NETWORK_OUTPUTS,
    OnnxRuntimeHandModel,
    RuntimeUnavailableError,
    TorchHandModel,
    load_runtime_model,
)
from fast_hamer_core.runtime.metadata import KEY_CONFIG, KEY_OUTPUTS
from fast_hamer_core.types import Detection


@pytest.fixture(scope="module")
def mano_path(tmp_path_factory):
    return write_synthetic_mano_npz(tmp_path_factory.mktemp("mano") / "MANO_RIGHT.npz")


@pytest.fixture(scope="module")
def student(mano_path):
    torch.manual_seed(0)
    return create_model("mobilenetv3_large", mano=mano_path).eval()


@pytest.fixture(scope="module")
def exported(student, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "mobilenetv3_large.onnx"
    return export_onnx(student, path, check_batches=(1, 3), threads=1)


@pytest.fixture(scope="module")
def ort_model(exported, mano_path):
    return OnnxRuntimeHandModel(exported.path, mano=MANO21(mano_path), threads=1)


def test_export_is_checked_at_batch_1_and_3_within_the_bound(exported, student):
    report = exported.parity
    assert report is not None and report.ok
    assert report.batch_sizes == (1, 3)
    assert set(report.max_abs_diff) == set(NETWORK_OUTPUTS)
    for name in NETWORK_OUTPUTS:
        for b in (1, 3):
            assert report.max_abs_diff[name][b] <= report.bound[name][b]
    # The bound is tight enough to mean something: float32 round-off, far below the outputs' scale.
    assert report.worst < 1e-3
    assert "OK" in report.table()


def test_onnx_file_carries_config_and_names_and_no_mano(exported, student):
    proto = onnx.load(str(exported.path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta[KEY_OUTPUTS] == ",".join(NETWORK_OUTPUTS)
    assert meta["fast_hamer.head"] == "single_query"  # checked above against the trained head in torch
    assert '"name": "mobilenetv3_large"' in meta[KEY_CONFIG]
    assert [i.name for i in proto.graph.input] == ["crops"]
    assert [o.name for o in proto.graph.output] == list(NETWORK_OUTPUTS)
    # Dynamic batch: the first input dimension is symbolic.
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.dim_value
    # MANO is outside the graph: no initializer has MANO's vertex count (778) in its shape.
    assert not any(778 in tuple(init.dims) for init in proto.graph.initializer)


def test_runner_matches_the_torch_model_at_another_batch_size(ort_model, student):
    x = random_crops(student.config, 2, torch.Generator().manual_seed(5))
    with torch.inference_mode():
        ref = student(x)
    out = ort_model(x)
    assert ort_model.config == student.config
    for key in ("pred_cam", "pred_keypoints_3d", "pred_vertices", "pred_keypoints_2d"):
        assert out[key].shape == ref[key].shape
        np.testing.assert_allclose(out[key].numpy(), ref[key].numpy(), atol=1e-4, rtol=1e-3)
    for key in ("global_orient", "hand_pose", "betas"):
        np.testing.assert_allclose(
            out["pred_mano_params"][key].numpy(), ref["pred_mano_params"][key].numpy(), atol=1e-4
        )
    assert set(ort_model.last_timings) == {"network_s", "mano_s", "start_s", "end_s"}
    assert ort_model.last_timings["end_s"] > ort_model.last_timings["start_s"]


def test_torch_runner_is_the_torch_model(student):
    runner = TorchHandModel(student)
    x = random_crops(student.config, 1, torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = student(x)
    out = runner(x)
    for key in ("pred_cam", "pred_cam_t", "pred_vertices", "pred_keypoints_2d"):
        torch.testing.assert_close(out[key], ref[key], atol=1e-6, rtol=1e-6)


def test_pipeline_with_onnxruntime_gives_the_same_hands_as_torch(ort_model, student):
    camera = PinholeCamera(fx=610.0, fy=590.0, cx=300.0, cy=250.0, width=640, height=480)
    rng = np.random.default_rng(0)
    image = np.repeat(np.repeat(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), 8, 0), 8, 1)
    dets = [
        Detection(box=[100, 120, 220, 260], score=0.9, side="right", side_score=0.9),
        Detection(box=[380, 140, 500, 300], score=0.8, side="left", side_score=0.7),
    ]
    torch_hands = HandReconstructor(model=student, device="cpu").reconstruct(image, camera, detections=dets)
    ort_hands = HandReconstructor(model=ort_model, device="cpu").reconstruct(image, camera, detections=dets)
    assert [h.side for h in ort_hands] == ["right", "left"]
    for a, b in zip(torch_hands, ort_hands, strict=True):
        scale = np.ptp(a.vertices, axis=0).max()
        np.testing.assert_allclose(b.vertices, a.vertices, atol=1e-4 * max(scale, 1.0) + 1e-5)
        np.testing.assert_allclose(b.keypoints_3d, a.keypoints_3d, atol=1e-4)
        np.testing.assert_allclose(b.keypoints_2d, a.keypoints_2d, atol=0.05)  # pixels
        np.testing.assert_allclose(b.joint_rotations, a.joint_rotations, atol=1e-4)
        np.testing.assert_allclose(b.betas, a.betas, atol=1e-4)


def test_load_runtime_model_onnxruntime(exported, mano_path):
    threads = torch.get_num_threads()
    try:
        model = load_runtime_model("onnxruntime", exported.path, mano=mano_path, device="cpu", threads=1)
        assert isinstance(model, OnnxRuntimeHandModel)
        assert model.mano is not None and model.mano.faces.shape == (1538, 3)
        assert torch.get_num_threads() == 1  # torch keeps one thread next to ONNX Runtime on the CPU
    finally:
        torch.set_num_threads(threads)
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_runtime_model("openvino", exported.path)


def test_parity_check_catches_a_different_network(exported, student):
    """The checker is not vacuous: a file from other weights fails the bound, naming the outputs."""
    torch.manual_seed(1)
    other = create_model("mobilenetv3_large").eval()
    runner = OnnxRuntimeHandModel(exported.path, threads=1)
    report = check_parity(other, runner, batch_sizes=(1,), atol=FP32_TOLERANCE[0], rtol=FP32_TOLERANCE[1])
    assert not report.ok
    assert any(f.startswith("pred_cam@batch1") for f in report.failures())


def test_corrupt_onnx_file_gives_a_clear_error(tmp_path, exported):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(exported.path.read_bytes()[:5000])  # truncated
    with pytest.raises(ValueError, match=r"broken\.onnx is not a loadable ONNX model"):
        OnnxRuntimeHandModel(bad)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxRuntimeHandModel(garbage)
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        OnnxRuntimeHandModel(tmp_path / "missing.onnx")


def test_onnx_without_our_metadata_needs_a_config(tmp_path, student):
    plain = tmp_path / "plain.onnx"
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["crops"], ["pred_cam"])],
            "g",
            [onnx.helper.make_tensor_value_info("crops", onnx.TensorProto.FLOAT, ["b", 3])],
            [onnx.helper.make_tensor_value_info("pred_cam", onnx.TensorProto.FLOAT, ["b", 3])],
        ),
        opset_imports=[onnx.helper.make_opsetid("", 18)],
    )
    proto.ir_version = 9
    onnx.save(proto, str(plain))
    with pytest.raises(ValueError, match="not written by `fast-hamer export`"):
        OnnxRuntimeHandModel(plain)
    with pytest.raises(ValueError, match=r"outputs \['global_orient', 'hand_pose', 'betas'\] missing"):
        OnnxRuntimeHandModel(plain, config=student.config)


def test_cuda_provider_missing_is_a_clear_error(exported):
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime build has the CUDA provider")  # GPU machines: covered by gpu_check.sh
    with pytest.raises(RuntimeUnavailableError, match=r"CUDAExecutionProvider.*onnxruntime-gpu"):
        OnnxRuntimeHandModel(exported.path, providers="cuda")


def test_wrong_input_shape_is_rejected(ort_model):
    with pytest.raises(ValueError, match=r"expects \(B, 3, 256, 256\) crops"):
        ort_model(torch.zeros(1, 3, 128, 128))


def test_from_options_runs_the_onnx_file(exported, mano_path):
    from fast_hamer_core.detection import ensure_detector_model

    threads = torch.get_num_threads()
    try:
        with HandReconstructor.from_options(
            mano=str(mano_path),
            device="cpu",
            runtime="onnxruntime",
            runtime_model=str(exported.path),
            detector_model=str(ensure_detector_model()),
        ) as recon:
            assert isinstance(recon.model, OnnxRuntimeHandModel) and recon.mode == "mesh"
            assert recon.model_name == "mobilenetv3_large"
    finally:
        torch.set_num_threads(threads)
    with pytest.raises(ValueError, match="needs runtime_model"):
        HandReconstructor.from_options(runtime="onnxruntime", device="cpu")
