"""MANO right-hand model: loading the user's licensed file (no chumpy needed) and the 21-joint layer.

MANO is licence-gated (https://mano.is.tue.mpg.de): every user downloads ``MANO_RIGHT.pkl`` themselves
and converts it once with ``fast-hamer mano import PATH`` into ``<models dir>/mano/MANO_RIGHT.npz``
(plain numpy). The official pickle is a Python-2 pickle whose values are partly ``chumpy`` objects;
chumpy does not install on current Python/numpy, so :func:`load_mano_arrays` reads it with a restricted
unpickler that maps the chumpy classes to inert stand-ins and evaluates the two node kinds the file
uses (``Ch`` -> its array, ``reordering.Select`` -> a re-indexed array). Nothing in the file can run code:
classes outside a short allow-list are refused.

:class:`MANO21` is the skinning layer as HaMeR uses it: ``smplx.MANOLayer`` fed rotation matrices
(``pose2rot=False``; PCA and the hand-mean offset never enter), 16 regressed joints + 5 fingertip
vertices in the OpenPose order of :mod:`fast_hamer_core.skeleton`. Output in metres, in MANO's own
origin (no translation). Its MANO buffers are non-persistent, so MANO data never ends up in a
student checkpoint that someone shares.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from fast_hamer_core import paths
from fast_hamer_core.skeleton import MANO_TO_OPENPOSE

log = logging.getLogger(__name__)

MANO_URL = "https://mano.is.tue.mpg.de"
#: The file the user downloads (inside ``mano_v*_*.zip`` under ``.../models/``).
MANO_PKL_NAME = "MANO_RIGHT.pkl"
#: Our converted, plain-numpy copy in ``paths.mano_dir()``.
MANO_NPZ_NAME = "MANO_RIGHT.npz"

NUM_VERTICES = 778
NUM_FACES = 1538
NUM_MANO_JOINTS = 16  # wrist + 5 fingers x 3
NUM_BETAS = 10
NUM_POSE_BASIS = (NUM_MANO_JOINTS - 1) * 9  # 135: (R - I) of the 15 finger joints

#: MANO's kinematic tree: parent of each of the 16 joints (wrist, index 1-3, middle 4-6, pinky 7-9,
#: ring 10-12, thumb 13-15). The file stores the root's parent as 4294967295 (uint32 -1).
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

#: Fingertip vertex ids, thumb, index, middle, ring, pinky (smplx ``vertex_ids['mano']``, HaMeR's).
FINGERTIP_VERTEX_IDS: tuple[int, ...] = (744, 320, 443, 554, 671)

#: Arrays every MANO file must provide, with their shapes (after sparse -> dense).
REQUIRED_SHAPES: dict[str, tuple[int, ...]] = {
    "v_template": (NUM_VERTICES, 3),
    "shapedirs": (NUM_VERTICES, 3, NUM_BETAS),
    "posedirs": (NUM_VERTICES, 3, NUM_POSE_BASIS),
    "J_regressor": (NUM_MANO_JOINTS, NUM_VERTICES),
    "weights": (NUM_VERTICES, NUM_MANO_JOINTS),
    "kintree_table": (2, NUM_MANO_JOINTS),
    "f": (NUM_FACES, 3),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}
#: Integer-valued arrays (stored int64); every other array is stored float32.
INTEGER_KEYS: frozenset[str] = frozenset({"f", "kintree_table"})
#: Optional arrays kept when present (``J``: the template's joints, ``hands_coeffs``: PCA training set).
OPTIONAL_KEYS: tuple[str, ...] = ("J", "hands_coeffs")


class MANOFileError(FileNotFoundError):
    """The MANO model file is missing. The message says what, where we looked, and how to get it."""

    def __init__(self, searched: Sequence[str | os.PathLike], detail: str = "") -> None:
        where = ", ".join(str(p) for p in searched) or "(nowhere)"
        message = (
            f"MANO hand model not found{': ' + detail if detail else ''}. Looked for {MANO_NPZ_NAME} "
            f"(converted) or {MANO_PKL_NAME} in: {where}. MANO is licence-gated, so it is not shipped: "
            f"register at {MANO_URL}, accept the licence, download the MANO models (mano_v1_2.zip), then "
            f"run `fast-hamer mano import PATH/TO/mano_v1_2.zip` (or PATH/TO/{MANO_PKL_NAME}); "
            f"it converts the file into {MANO_NPZ_NAME} in the models directory "
            f"(${paths.MODELS_ENV} or ~/.cache/fast_hamer/models)."
        )
        super().__init__(message)
        self.searched = [Path(p) for p in searched]


# --------------------------------------------------------------------------------------------------
# Reading the real file without chumpy


class _ChumpyNode:
    """Inert stand-in for a pickled chumpy object: keeps the pickled state, evaluates nothing on load.

    One subclass per chumpy class name is created by the unpickler; ``kind`` is ``module.Class``.
    """

    kind = "chumpy.ch.Ch"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self, key: str) -> np.ndarray:
        """Evaluate the node like chumpy's ``compute_r`` for the node kinds MANO/SMPL files use."""
        state = self.state if isinstance(getattr(self, "state", None), dict) else None
        if state is None:
            raise ValueError(f"{key}: chumpy object {self.kind} has no pickled state")
        kind = self.kind.rsplit(".", 1)[-1]
        if kind == "Ch":
            return _plain_array(state.get("x"), key)
        if "a" not in state:
            raise ValueError(f"{key}: chumpy {self.kind} without its operand 'a'")
        a = _plain_array(state["a"], key)
        if kind == "Select":  # a.ravel()[idxs], reshaped to preferred_shape when present
            out = a.ravel()[np.asarray(state["idxs"], dtype=np.int64).ravel()]
            shape = state.get("preferred_shape")
            return out.reshape(tuple(shape)) if shape is not None else out
        if kind == "Reshape":
            return a.reshape(state["newshape"])
        if kind == "transpose":
            return np.transpose(a, axes=state.get("axes"))
        raise ValueError(f"{key}: unsupported chumpy node {self.kind} (only Ch, Select, Reshape, transpose)")


class _SparseStandIn:
    """Stand-in for a pickled scipy.sparse matrix of any scipy version; rebuilt by ``to_array``."""

    fmt = "csc"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self, key: str) -> np.ndarray:
        import scipy.sparse as sp

        s = getattr(self, "state", None)
        if not isinstance(s, dict):
            raise ValueError(f"{key}: sparse matrix without state")
        shape = tuple(s.get("_shape", s.get("shape", ())))
        try:
            if self.fmt in ("csc", "csr"):
                cls = sp.csc_matrix if self.fmt == "csc" else sp.csr_matrix
                m = cls((s["data"], s["indices"], s["indptr"]), shape=shape)
            elif self.fmt == "coo":
                m = sp.coo_matrix((s["data"], (s["row"], s["col"])), shape=shape)
            else:
                raise ValueError(f"unsupported sparse format {self.fmt}")
        except KeyError as err:
            raise ValueError(f"{key}: sparse {self.fmt} matrix lacks {err}") from None
        return np.asarray(m.toarray())


def _plain_array(value: Any, key: str) -> np.ndarray:
    """A pickled value -> ndarray (evaluating chumpy and sparse stand-ins)."""
    if isinstance(value, (_ChumpyNode, _SparseStandIn)):
        return value.to_array(key)
    if value is None:
        raise ValueError(f"{key}: value is missing (None)")
    return np.asarray(value)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for MANO files: numpy, scipy.sparse (stand-in), chumpy (stand-in), nothing else.

    Python-2 module names (``copy_reg``, ``__builtin__``, ``numpy.core``) are mapped to today's.
    """

    _NUMPY_MODULES = frozenset(
        {
            "numpy",
            "numpy.core.multiarray",
            "numpy._core.multiarray",
            "numpy.core.numeric",
            "numpy._core.numeric",
        }
    )
    _NUMPY_NAMES = frozenset({"_reconstruct", "scalar", "dtype", "ndarray", "_frombuffer"})
    _BUILTINS: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
            ("__builtin__", "object"), ("builtins", "object"),
            ("__builtin__", "set"), ("builtins", "set"),
            ("__builtin__", "frozenset"), ("builtins", "frozenset"),
            ("_codecs", "encode"),
        }
    )  # fmt: skip

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return type(name, (_ChumpyNode,), {"kind": f"{module}.{name}"})
        if module.startswith("scipy.sparse"):
            fmt = name.split("_")[0]
            return type(name, (_SparseStandIn,), {"fmt": fmt})
        if module in self._NUMPY_MODULES and name in self._NUMPY_NAMES:
            module = module.replace("numpy.core", "numpy._core")
            return super().find_class(module, name)
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return super().find_class(module, name)
        if (module, name) in self._BUILTINS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a MANO file holds only numpy, scipy.sparse and chumpy data"
        )


def _read_pickle(data: bytes, source: str) -> dict[str, Any]:
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise ValueError(f"{source}: not a valid MANO pickle ({err}); is the file complete?") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise ValueError(
            f"{source}: cannot read the MANO pickle ({type(err).__name__}: {err}); "
            f"the file is truncated or corrupt, download {MANO_PKL_NAME} again"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{source}: a MANO pickle holds a dict of arrays, found {type(obj).__name__}")
    return obj


def _zip_member(zf: zipfile.ZipFile, source: str) -> str:
    """The MANO_RIGHT.pkl member of the official zip (``mano_v1_2/models/MANO_RIGHT.pkl``)."""
    names = [n for n in zf.namelist() if Path(n).name == MANO_PKL_NAME]
    if not names:
        raise ValueError(
            f"{source}: no {MANO_PKL_NAME} inside this zip; expected the official MANO download "
            f"(mano_v1_2.zip with mano_v1_2/models/{MANO_PKL_NAME}) from {MANO_URL}"
        )
    names.sort(key=lambda n: (0 if "/models/" in f"/{n}" else 1, len(n)))
    return names[0]


def _normalise(raw: dict[str, Any], source: str) -> dict[str, np.ndarray]:
    """Required + optional keys as plain float32 / int64 arrays, with shapes and values checked."""
    missing = [k for k in REQUIRED_SHAPES if k not in raw]
    if missing:
        raise ValueError(
            f"{source}: missing key(s) {', '.join(missing)}; a MANO model file has "
            f"{', '.join(REQUIRED_SHAPES)}"
        )
    out: dict[str, np.ndarray] = {}
    for key in (*REQUIRED_SHAPES, *OPTIONAL_KEYS):
        if key not in raw:
            continue
        try:
            array = _plain_array(raw[key], key)
            if array.dtype == object:
                raise ValueError(f"{key}: not a numeric array")
            array = array.astype(np.int64 if key in INTEGER_KEYS else np.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: bad value for {key}: {err}") from None
        expected = REQUIRED_SHAPES.get(key)
        if expected is not None and array.shape != expected:
            raise ValueError(
                f"{source}: {key} has shape {array.shape}, expected {expected} (MANO right hand)"
            )
        if array.dtype == np.float32 and not np.isfinite(array).all():
            raise ValueError(f"{source}: {key} contains NaN or inf")
        out[key] = array
    parents = out["kintree_table"][0].copy()
    parents[0] = -1  # the file stores 4294967295 (uint32 -1) for the root
    if not all(0 <= parents[i] < i for i in range(1, NUM_MANO_JOINTS)):
        raise ValueError(f"{source}: kintree_table parents {parents.tolist()} are not a tree in joint order")
    out["kintree_table"][0] = parents
    faces = out["f"]
    if faces.min() < 0 or faces.max() >= NUM_VERTICES:
        raise ValueError(f"{source}: face indices outside 0..{NUM_VERTICES - 1}")
    return out


def _read_npz(path: Path, source: str) -> dict[str, np.ndarray]:
    """The arrays of a plain ``.npz`` (a zip of ``.npy`` files, no pickles); ValueError saying what is
    wrong otherwise (not numpy's ``allow_pickle`` advice: a MANO file never needs pickles)."""
    again = "convert the model again with `fast-hamer mano import`"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{source}: not an .npz archive (an .npz is a zip of .npy arrays); {again}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "allow_pickle" in str(err) or "pickled" in str(err):
            raise ValueError(
                f"{source}: holds Python objects (pickled arrays), not plain numbers; {again}"
            ) from None
        raise ValueError(f"{source}: cannot read the .npz ({err}); {again}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{source}: cannot read the .npz ({err}); {again}") from None


def load_mano_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a MANO right-hand model into plain arrays; chumpy is never imported.

    Accepts the official ``MANO_RIGHT.pkl`` (Python-2 pickle with chumpy objects and a scipy.sparse
    ``J_regressor``), a plain-numpy ``.pkl``, our converted ``.npz``, the official ``mano_v*.zip``, or a
    directory holding one of them. Returns float32 arrays (int64 for ``f`` and ``kintree_table``; the
    root's parent set to -1) with the shapes of :data:`REQUIRED_SHAPES`, dense ``J_regressor`` (16, 778),
    plus ``J`` / ``hands_coeffs`` when present.

    Raises :class:`MANOFileError` if the path does not exist, ``ValueError`` naming the problem if the
    file is truncated, corrupt, not a MANO file, or lacks a key.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        for name in (MANO_NPZ_NAME, MANO_PKL_NAME):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise MANOFileError([path / MANO_NPZ_NAME, path / MANO_PKL_NAME])
    if not path.is_file():
        raise MANOFileError([path])
    source = str(path)
    if "LEFT" in path.name.upper():
        raise ValueError(f"{source}: this is the left-hand model; fast_hamer uses {MANO_PKL_NAME} only")
    if zipfile.is_zipfile(path) and path.suffix.lower() != ".npz":
        with zipfile.ZipFile(path) as zf:
            member = _zip_member(zf, source)
            raw = _read_pickle(zf.read(member), f"{source}:{member}")
        return _normalise(raw, f"{source}:{member}")
    if path.suffix.lower() == ".npz":
        return _normalise(_read_npz(path, source), source)
    return _normalise(_read_pickle(path.read_bytes(), source), source)


def save_mano_npz(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write normalised MANO arrays as a plain ``.npz`` (no pickle), atomically. Read back by
    :func:`load_mano_arrays`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def import_mano(src: str | os.PathLike, dst_dir: str | os.PathLike | None = None) -> Path:
    """Convert the user's MANO file (pkl, npz, or the official zip) to ``<dst_dir>/MANO_RIGHT.npz``.

    ``dst_dir`` defaults to :func:`fast_hamer_core.paths.mano_dir`. Returns the written path.
    """
    arrays = load_mano_arrays(src)
    dst = Path(dst_dir).expanduser() if dst_dir is not None else paths.mano_dir()
    out = save_mano_npz(arrays, dst / MANO_NPZ_NAME)
    log.info("MANO model from %s written to %s", src, out)
    return out


def default_mano_path(override: str | os.PathLike | None = None) -> Path:
    """Where the converted model lives: ``<models dir>/mano/MANO_RIGHT.npz``.

    ``override`` is a models directory (as :func:`fast_hamer_core.paths.models_dir` takes).
    """
    return paths.mano_dir(override) / MANO_NPZ_NAME


def resolve_mano_path(path: str | os.PathLike | None = None) -> Path:
    """The MANO file to use: ``path`` if given (a file, or a directory holding one), else the
    converted ``.npz`` (or a ``MANO_RIGHT.pkl`` dropped) in the models directory.

    Raises :class:`MANOFileError` naming the places searched when there is nothing.
    """
    if path is not None and str(path) != "":
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            candidates = [p / MANO_NPZ_NAME, p / MANO_PKL_NAME]
        else:
            raise MANOFileError([p], detail=f"{p} does not exist")
    else:
        candidates = [default_mano_path(), paths.mano_dir() / MANO_PKL_NAME]
    for c in candidates:
        if c.is_file():
            return c
    raise MANOFileError(candidates)


# --------------------------------------------------------------------------------------------------
# The 21-joint layer


class MANOOutput21(NamedTuple):
    """MANO output in metres, MANO's own origin (no translation), camera-oriented by global_orient."""

    vertices: torch.Tensor  # (B, 778, 3)
    joints: torch.Tensor  # (B, 21, 3), OpenPose order (skeleton.JOINT_NAMES)


def global_joint_rotations(
    global_orient: torch.Tensor,
    hand_pose: torch.Tensor,
    parents: Sequence[int] = MANO_PARENTS,
) -> torch.Tensor:
    """Rotation of each of the 16 MANO joint frames in the camera frame, (B, 16, 3, 3).

    ``global_orient`` (B, 1, 3, 3) is the wrist's rotation, ``hand_pose`` (B, 15, 3, 3) each finger
    joint's rotation relative to its parent; composed along the kinematic tree,
    ``G[i] = G[parent[i]] @ R[i]`` (what MANO's skinning applies to the rest-pose axes of joint i).
    With :data:`fast_hamer_core.skeleton.JOINT_TO_MANO_ROTATION` this orients the 21 TF frames.
    """
    local = torch.cat([global_orient.reshape(-1, 1, 3, 3), hand_pose.reshape(-1, 15, 3, 3)], dim=1)
    chain: list[torch.Tensor] = [local[:, 0]]
    for i in range(1, len(parents)):
        chain.append(chain[parents[i]] @ local[:, i])
    return torch.stack(chain, dim=1)  # (B, 16, 3, 3)


class MANO21(nn.Module):
    """MANO right hand -> 778 vertices and 21 joints (OpenPose order), as HaMeR computes them.

    Same maths as ``smplx.MANOLayer.forward`` (HaMeR's call: linear blend skinning with rotation
    matrices, ``pose2rot=False``; PCA components and the hand-mean offset play no part), written with
    Python-int parents so that the kinematic chain has no host-device syncs on a GPU. Then HaMeR's
    joint list: the 16 regressed joints + fingertip vertices (thumb, index, middle, ring, pinky),
    reordered by :data:`fast_hamer_core.skeleton.MANO_TO_OPENPOSE`.

    Buffers are non-persistent: MANO data never goes into a ``state_dict`` (licence), it is always
    read from the user's file. ``.to(device)`` moves them as usual.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``model_path``: a MANO file or directory (see :func:`resolve_mano_path`; None = the
        converted model in the models directory). ``arrays``: already loaded arrays instead."""
        super().__init__()
        if arrays is None:
            arrays = load_mano_arrays(resolve_mano_path(model_path))
        else:
            arrays = _normalise(arrays, "arrays")
        self.parents: tuple[int, ...] = tuple(int(p) for p in arrays["kintree_table"][0])
        self._faces = arrays["f"].astype(np.int64)

        def buf(name: str, value: np.ndarray, dtype: torch.dtype = torch.float32) -> None:
            self.register_buffer(
                name, torch.as_tensor(np.ascontiguousarray(value), dtype=dtype), persistent=False
            )

        buf("v_template", arrays["v_template"])  # (778, 3)
        buf("shapedirs", arrays["shapedirs"])  # (778, 3, 10)
        # (778, 3, 135) -> (135, 778*3), as smplx stores it
        buf("posedirs", arrays["posedirs"].reshape(-1, NUM_POSE_BASIS).T)
        buf("J_regressor", arrays["J_regressor"])  # (16, 778)
        buf("lbs_weights", arrays["weights"])  # (778, 16)
        buf("faces_tensor", self._faces, torch.long)  # (1538, 3)
        buf("fingertip_ids", np.asarray(FINGERTIP_VERTEX_IDS), torch.long)  # (5,)
        buf("joint_map", np.asarray(MANO_TO_OPENPOSE), torch.long)  # (21,)

    @property
    def faces(self) -> np.ndarray:
        """Triangles (1538, 3) int64, vertex indices."""
        return self._faces

    def forward(
        self, global_orient: torch.Tensor, hand_pose: torch.Tensor, betas: torch.Tensor
    ) -> MANOOutput21:
        """``global_orient`` (B, 1, 3, 3), ``hand_pose`` (B, 15, 3, 3) rotation matrices, ``betas`` (B, 10).

        Inputs are cast to the buffers' dtype (float32), as HaMeR does with ``.float()``.
        """
        dtype = self.v_template.dtype
        b = betas.shape[0]
        betas = betas.to(dtype).reshape(b, NUM_BETAS)
        global_orient = global_orient.to(dtype).reshape(b, 1, 3, 3)
        hand_pose = hand_pose.to(dtype).reshape(b, NUM_MANO_JOINTS - 1, 3, 3)

        # Shape: template + shape blend shapes, joints regressed from the shaped mesh.
        v_shaped = self.v_template + torch.einsum("bl,vcl->bvc", betas, self.shapedirs)  # (B, 778, 3)
        joints_rest = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)  # (B, 16, 3)
        # Pose blend shapes from (R - I) of the 15 finger joints.
        eye = torch.eye(3, dtype=dtype, device=betas.device)
        pose_feature = (hand_pose - eye).reshape(b, NUM_POSE_BASIS)  # (B, 135)
        v_posed = v_shaped + (pose_feature @ self.posedirs).reshape(b, NUM_VERTICES, 3)  # (B, 778, 3)

        # Rigid transforms along the tree: G_i = G_parent @ [R_i | j_i - j_parent].
        rots = global_joint_rotations(global_orient, hand_pose, self.parents)  # (B, 16, 3, 3)
        trans: list[torch.Tensor] = [joints_rest[:, 0]]
        for i in range(1, len(self.parents)):
            p = self.parents[i]
            rel = (joints_rest[:, i] - joints_rest[:, p]).unsqueeze(-1)  # (B, 3, 1)
            trans.append(trans[p] + (rots[:, p] @ rel).squeeze(-1))
        joints_posed = torch.stack(trans, dim=1)  # (B, 16, 3)
        # Skinning transform of each joint relative to its rest position: x -> R x + (t - R j_rest).
        offset = joints_posed - (rots @ joints_rest.unsqueeze(-1)).squeeze(-1)  # (B, 16, 3)
        affine = torch.cat([rots, offset.unsqueeze(-1)], dim=-1).reshape(
            b, NUM_MANO_JOINTS, 12
        )  # (B, 16, 12)
        per_vertex = (self.lbs_weights @ affine).reshape(b, NUM_VERTICES, 3, 4)  # (B, 778, 3, 4)
        vertices = (per_vertex[..., :3] @ v_posed.unsqueeze(-1)).squeeze(-1) + per_vertex[
            ..., 3
        ]  # (B, 778, 3)

        tips = vertices.index_select(1, self.fingertip_ids)  # (B, 5, 3)
        joints = torch.cat([joints_posed, tips], dim=1).index_select(1, self.joint_map)  # (B, 21, 3)
        return MANOOutput21(vertices=vertices, joints=joints)

    def extra_repr(self) -> str:
        return f"vertices={NUM_VERTICES}, faces={NUM_FACES}, joints=21 (16 MANO + 5 tips), betas={NUM_BETAS}"
