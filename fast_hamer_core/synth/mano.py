"""A synthetic MANO right hand in the real file formats: random but valid, never the licensed data.

- :func:`make_synthetic_mano_arrays`: every array of ``MANO_RIGHT.pkl`` with the real shapes and MANO's
  real kinematic tree (root parent stored as 4294967295, as in the file).
- :func:`write_synthetic_mano_pkl` with ``chumpy=True`` writes the pickle laid out as the official file:
  protocol 2 written the way Python 2 wrote it (byte strings as ``str``, ``numpy.core.multiarray``,
  ``copy_reg``/``__builtin__`` names), chumpy objects as ``chumpy.ch Ch`` / ``chumpy.reordering Select``
  rebuilt by ``NEWOBJ`` (``copy_reg.__newobj__``) + ``BUILD`` with the ``__getstate__`` dict
  (``x`` holds the array; ``Select`` holds ``a``, ``idxs``, ``preferred_shape``), ``J_regressor`` as a
  ``scipy.sparse.csc csc_matrix``, ``f`` and ``kintree_table`` as numpy. chumpy is not needed to write
  it: the pickler names stand-in classes by the chumpy names; nothing is put into ``sys.modules``.
- :func:`write_synthetic_mano_npz` (``marker=True`` adds :data:`SYNTHETIC_MARKER_KEY`, which
  ``fast-hamer models verify / list`` report as synthetic), :func:`write_synthetic_mano_zip` (the official
  zip layout).

A mesh made from these arrays is a random blob, not a hand: use it to exercise the code paths (training,
evaluation, mesh output), never to judge accuracy.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

NUM_VERTICES = 778
NUM_FACES = 1538
NUM_JOINTS = 16
UINT32_MINUS_ONE = 4294967295
#: MANO's real parents (wrist, index 1-3, middle 4-6, pinky 7-9, ring 10-12, thumb 13-15).
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
#: Array stored in a synthetic MANO .npz by ``marker=True`` (``fast-hamer models`` reports it as synthetic).
SYNTHETIC_MARKER_KEY = "fast_hamer_synthetic_mano"
#: File name ``fast-hamer synth-data`` gives its MANO model (never one the models directory resolves).
SYNTHETIC_MANO_NAME = "MANO_RIGHT_SYNTHETIC.npz"


def make_synthetic_mano_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """A random, valid MANO right hand: shapes, dtypes and tree as the official file.

    v_template within a 10 cm box (metres); J_regressor and weights rows are convex combinations
    (sum to 1); faces are 1538 triangles of 3 distinct vertices; small shape/pose blend shapes.
    """
    rng = np.random.default_rng(seed)
    v_template = rng.uniform(-0.05, 0.05, (NUM_VERTICES, 3))
    # Each joint: a convex combination of 12 random vertices.
    j_regressor = np.zeros((NUM_JOINTS, NUM_VERTICES))
    for j in range(NUM_JOINTS):
        idx = rng.choice(NUM_VERTICES, 12, replace=False)
        w = rng.uniform(0.1, 1.0, 12)
        j_regressor[j, idx] = w / w.sum()
    # Skinning weights: mostly one joint per vertex, a little of two others.
    weights = rng.uniform(0.0, 0.05, (NUM_VERTICES, NUM_JOINTS))
    weights[np.arange(NUM_VERTICES), rng.integers(0, NUM_JOINTS, NUM_VERTICES)] += 1.0
    weights /= weights.sum(1, keepdims=True)
    # Faces: three distinct vertex ids per triangle.
    a = rng.integers(0, NUM_VERTICES, NUM_FACES)
    o1 = rng.integers(1, NUM_VERTICES - 1, NUM_FACES)
    o2 = o1 + rng.integers(1, NUM_VERTICES - o1, NUM_FACES)
    faces = np.stack([a, (a + o1) % NUM_VERTICES, (a + o2) % NUM_VERTICES], 1)
    kintree = np.stack([np.array(MANO_PARENTS), np.arange(NUM_JOINTS)]).astype(np.int64)
    kintree[0, 0] = UINT32_MINUS_ONE
    components, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 2e-3, (NUM_VERTICES, 3, 10)),
        "posedirs": rng.normal(0.0, 1e-3, (NUM_VERTICES, 3, 135)),
        "J_regressor": j_regressor,
        "J": j_regressor @ v_template,
        "weights": weights,
        "kintree_table": kintree,
        "f": faces.astype(np.uint32),
        "hands_components": components,
        "hands_mean": rng.normal(0.0, 0.1, 45),
        "hands_coeffs": rng.normal(0.0, 0.5, (20, 45)),
    }


# --------------------------------------------------------------------------------------------------
# A Python-2-style protocol-2 pickle of chumpy objects, written without chumpy


class _Pickled:
    """An object pickled as ``module.name`` (set per subclass) with ``state`` as its BUILD dict."""

    pickled_as: tuple[str, str] = ("chumpy.ch", "Ch")

    def __init__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Ch(_Pickled):
    pickled_as = ("chumpy.ch", "Ch")


class _Select(_Pickled):
    pickled_as = ("chumpy.reordering", "Select")


class _CscMatrix(_Pickled):
    pickled_as = ("scipy.sparse.csc", "csc_matrix")


def _chumpy_state(**terms: Any) -> dict[str, Any]:
    """``Ch.__getstate__`` of a Python-2 chumpy object: its ``__dict__`` without _parents/_cache."""
    return {"_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}, "_make_dense": False,
            "_make_sparse": False, **terms}  # fmt: skip


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us change how str/globals are written
    """Protocol 2 the way Python 2 wrote it: every str/bytes as a py2 ``str`` (SHORT_BINSTRING /
    BINSTRING), numpy's reconstructor under ``numpy.core.multiarray``, stand-ins under their chumpy /
    scipy names. (copy_reg / __builtin__ names come from pickle's own fix_imports.)"""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, type) and issubclass(obj, _Pickled):
            module, name = obj.pickled_as
        elif getattr(obj, "__module__", "").startswith("numpy._core"):
            module, name = obj.__module__.replace("numpy._core", "numpy.core"), obj.__name__
        else:
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)

    dispatch[type] = save_global


def _chumpy_layout(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The value types of the official MANO_RIGHT.pkl: chumpy for the dense model arrays, a Select
    over 20 shape components for shapedirs, scipy csc for J_regressor, numpy for the rest."""
    out: dict[str, Any] = {}
    for key, value in arrays.items():
        if key in ("v_template", "posedirs", "weights", "J"):
            out[key] = _Ch(_chumpy_state(x=np.asarray(value, np.float64)))
        elif key == "shapedirs":
            full = np.concatenate([value, np.zeros_like(value)], axis=2)  # (778, 3, 20), first 10 used
            idxs = np.arange(full.size).reshape(full.shape)[:, :, : value.shape[2]].ravel()
            out[key] = _Select(
                _chumpy_state(a=_Ch(_chumpy_state(x=full)), idxs=idxs, preferred_shape=tuple(value.shape))
            )
        elif key == "J_regressor":
            import scipy.sparse as sp

            m = sp.csc_matrix(value)
            out[key] = _CscMatrix({"_shape": m.shape, "maxprint": 50, "format": "csc", "data": m.data,
                                   "indices": m.indices, "indptr": m.indptr})  # fmt: skip
        else:
            out[key] = np.asarray(value)
    out["bs_style"] = "lbs"
    out["bs_type"] = "lrotmin"
    return out


def synthetic_mano_pkl_bytes(
    arrays: dict[str, np.ndarray] | None = None, chumpy: bool = True, protocol: int = 2
) -> bytes:
    """The pickle bytes (see :func:`write_synthetic_mano_pkl`). ``protocol=1`` rebuilds objects with
    ``copy_reg._reconstructor`` instead of ``NEWOBJ`` (how Python 2 wrote protocols 0/1)."""
    arrays = make_synthetic_mano_arrays() if arrays is None else arrays
    buf = io.BytesIO()
    if chumpy:
        _Py2Pickler(buf, protocol=protocol).dump(_chumpy_layout(arrays))
    else:
        pickle.dump({k: np.asarray(v) for k, v in arrays.items()}, buf, protocol=protocol)
    return buf.getvalue()


def write_synthetic_mano_pkl(
    path: str | Path, chumpy: bool = True, arrays: dict[str, np.ndarray] | None = None
) -> Path:
    """Write a MANO_RIGHT.pkl: ``chumpy=True`` as the official file, else a plain-numpy pickle."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(synthetic_mano_pkl_bytes(arrays, chumpy))
    return path


def write_synthetic_mano_npz(
    path: str | Path, arrays: dict[str, np.ndarray] | None = None, marker: bool = False
) -> Path:
    """Write the arrays as a plain .npz (as ``fast-hamer mano import`` produces); ``marker`` adds the
    :data:`SYNTHETIC_MARKER_KEY` array so that tools can tell the file from the real model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dict(make_synthetic_mano_arrays() if arrays is None else arrays)
    if marker:
        data[SYNTHETIC_MARKER_KEY] = np.array(1, dtype=np.uint8)
    np.savez(path, **data)
    return path


def write_synthetic_mano_zip(path: str | Path, arrays: dict[str, np.ndarray] | None = None) -> Path:
    """The official download's layout: ``mano_v1_2/models/MANO_{RIGHT,LEFT}.pkl`` + a licence file.
    The LEFT model is a different random hand so that picking the wrong one shows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mano_v1_2/LICENSE.txt", "synthetic test data")
        zf.writestr(
            "mano_v1_2/models/MANO_LEFT.pkl", synthetic_mano_pkl_bytes(make_synthetic_mano_arrays(99))
        )
        zf.writestr("mano_v1_2/models/MANO_RIGHT.pkl", synthetic_mano_pkl_bytes(arrays))
    return path


def is_synthetic_mano(path: str | Path) -> bool:
    """Whether ``path`` is a MANO ``.npz`` marked as synthetic (:data:`SYNTHETIC_MARKER_KEY`; cheap: reads
    the archive's member names only). The models directory and ``mano import`` refuse such a file."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return f"{SYNTHETIC_MARKER_KEY}.npy" in zf.namelist()


#: What the tools say about a marked file.
SYNTHETIC_MANO_MESSAGE = (
    "is the SYNTHETIC MANO model written by `fast-hamer synth-data` (a random blob, not the licensed "
    "model): pass it with --mano / mano: where you want it, never as the models directory's MANO"
)
