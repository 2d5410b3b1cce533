"""Fixtures for the asset tests: a local HTTP file server with Range support (and faults on demand),
and generators of every asset in its real format (HaMeR Lightning .ckpt + model_config.yaml + the
demo-data tar.gz layout, a small registered student saved with save_checkpoint, a .task bundle).
Nothing touches the network: the server listens on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

# --------------------------------------------------------------------------------------------------
# Local HTTP server


@dataclass
class FileServer:
    """Serves ``files`` (url path -> bytes) on 127.0.0.1 with byte ranges, ETag and If-Range.

    Faults: ``drops[path]`` is a list of byte counts; each full or ranged request pops one and sends
    only that many body bytes before closing the connection. ``announce[path]`` overrides the
    Content-Length sent (a lie, to test the disk-space check). ``requests`` logs (path, Range header).
    """

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    drops: dict[str, list[int]] = field(default_factory=dict)
    announce: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: a drop is a closed socket

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            path = self.path
            rng = self.headers.get("Range")
            server.requests.append((path, rng))
            if path not in server.files:
                self.send_error(404)
                return
            data = server.files[path]
            etag = server.etag(path)
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if_range = self.headers.get("If-Range")
            if m and (if_range is None or if_range == etag):
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(server.announce.get(path, len(body))))
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            budget = server.drops.get(path)
            if budget:
                self.wfile.write(body[: budget.pop(0)])
                self.wfile.flush()
                self.close_connection = True
                return
            if path not in server.announce:
                self.wfile.write(body)

    return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """A running :class:`FileServer` on 127.0.0.1 (ephemeral port), stopped after the test."""
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must never go through a proxy configured in the environment."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


# --------------------------------------------------------------------------------------------------
# Asset generators (real formats, tiny contents)

#: A HaMeR ``model_config.yaml`` as HaMeR writes it (yacs dump; the parts our checks read).
HAMER_MODEL_CONFIG_YAML = """\
MODEL:
  BACKBONE:
    TYPE: vit
  BBOX_SHAPE:
  - 192
  - 256
  IMAGE_MEAN: [0.485, 0.456, 0.406]
  IMAGE_SIZE: 256
  IMAGE_STD: [0.229, 0.224, 0.225]
  MANO_HEAD:
    IEF_ITERS: 1
    JOINT_REP: 6d
    TRANSFORMER_DECODER:
      context_dim: 1280
      depth: 6
      dim_head: 64
      dropout: 0.0
      emb_dropout: 0.0
      heads: 8
      mlp_dim: 1024
      norm: layer
    TRANSFORMER_INPUT: zero
    TYPE: transformer_decoder
MANO:
  DATA_DIR: _DATA/data/
  MODEL_PATH: _DATA/data/mano
  NUM_HAND_JOINTS: 15
"""


@pytest.fixture(scope="session")
def hamer_state_keys() -> list[str]:
    """Backbone + head key names of ``hamer_vith`` (built on the meta device: no memory)."""
    from fast_hamer_core.models.registry import create_model

    with torch.device("meta"):
        model = create_model("hamer_vith")
    return [k for k in model.state_dict() if k.startswith(("backbone.", "mano_head."))]


def write_hamer_ckpt(path: Path, keys: list[str], drop: int = 0) -> Path:
    """A HaMeR-style Lightning checkpoint: every key name, tiny tensors (layout, not weights).

    Also the extra top-level entries and ``mano.*`` / ``discriminator.*`` keys a real one has;
    ``drop`` leaves out that many backbone keys (a broken file).
    """
    state = {k: torch.zeros(1) for k in keys[drop:]}
    state["mano.betas"] = torch.zeros(1, 10)
    state["discriminator.D_conv1.weight"] = torch.zeros(1)
    payload = {
        "epoch": 3,
        "global_step": 1000000,
        "pytorch-lightning_version": "2.0.9",
        "state_dict": state,
        "hyper_parameters": {"cfg": {"MODEL": {"BACKBONE": {"TYPE": "vit"}}}},
        "optimizer_states": [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_700_000_000
    tf.addfile(info, io.BytesIO(data))


def write_hamer_archive(path: Path, ckpt: bytes, config: bytes, filler_bytes: int = 64 * 1024) -> Path:
    """``hamer_demo_data.tar.gz`` with the real member paths (``_DATA/...``), an AppleDouble ``._``
    twin of the checkpoint (what ``tar --exclude='.*'`` skips) and filler for the other members."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tf:
        for d in ("_DATA", "_DATA/hamer_ckpts", "_DATA/hamer_ckpts/checkpoints"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        _add(tf, "_DATA/data/mano_mean_params.npz", rng.bytes(filler_bytes // 4))
        _add(tf, "_DATA/hamer_ckpts/checkpoints/._hamer.ckpt", b"\x00\x05\x16\x07AppleDouble")
        _add(tf, "_DATA/hamer_ckpts/checkpoints/hamer.ckpt", ckpt)
        _add(tf, "_DATA/hamer_ckpts/dataset_config.yaml", b"FREIHAND-TRAIN: {}\n")
        _add(tf, "_DATA/hamer_ckpts/model_config.yaml", config)
        _add(tf, "_DATA/vitpose_ckpts/vitpose+_huge/wholebody.pth", rng.bytes(filler_bytes))
    return path


@pytest.fixture
def hamer_files(tmp_path: Path, hamer_state_keys: list[str]) -> dict[str, Path]:
    """A HaMeR ``_DATA`` folder (real layout) and its demo-data archive."""
    data = tmp_path / "hamer_src" / "_DATA" / "hamer_ckpts"
    ckpt = write_hamer_ckpt(data / "checkpoints" / "hamer.ckpt", hamer_state_keys)
    config = data / "model_config.yaml"
    config.write_text(HAMER_MODEL_CONFIG_YAML)
    archive = write_hamer_archive(tmp_path / "hamer_demo_data.tar.gz", ckpt.read_bytes(), config.read_bytes())
    return {"data_dir": data.parent, "folder": data, "ckpt": ckpt, "config": config, "archive": archive}


TINY_STUDENT = "tiny_test_student"


@pytest.fixture
def tiny_student() -> Iterator[str]:
    """A small student registered for the test (MobileNetV3-small-0.5 + a 1-layer head), then removed."""
    from fixtures.models import registered, tiny_mobilenet_config

    with registered(tiny_mobilenet_config(TINY_STUDENT)):
        yield TINY_STUDENT


@pytest.fixture
def save_student(tiny_student: str) -> Callable[..., Path]:
    """``save_student(path, **metadata)``: a real student checkpoint via ``save_checkpoint``."""
    from fast_hamer_core.models.checkpoint import save_checkpoint
    from fast_hamer_core.models.registry import create_model

    torch.manual_seed(0)
    model = create_model(tiny_student)

    def save(path: Path, **metadata: str | int | float | bool) -> Path:
        return save_checkpoint(path, model, metadata=metadata)

    return save


def tflite_bytes(tag: bytes = b"") -> bytes:
    """Bytes laid out as a TFLite flatbuffer header: root offset, then the ``TFL3`` identifier."""
    return b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64 + tag


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    """A hand-landmarker ``.task`` bundle written by the detector's own writer (zip of two TFLite)."""
    from fast_hamer_core.detection.assets import write_task

    return write_task(
        {
            "hand_detector.tflite": tflite_bytes(b"palm"),
            "hand_landmarks_detector.tflite": tflite_bytes(b"lm"),
        },
        tmp_path / "downloads" / "hand_landmarker.task",
    )


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models directory that ``$FAST_HAMER_MODELS`` points to."""
    root = tmp_path / "models"
    monkeypatch.setenv("FAST_HAMER_MODELS", str(root))
    return root
