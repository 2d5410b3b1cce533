"""Human hand joints -> robot hand joint angles, with dex-retargeting (optional extra ``retarget``).

dex-retargeting (dexsuite/dex-retargeting, MIT; the retargeting library of AnyTeleop) optimises a robot
hand's joint angles so that robot link vectors match human keypoint vectors. It expects the 21 keypoints
(OpenPose / MediaPipe order, which is ours: :data:`fast_hamer_core.skeleton.JOINT_NAMES`) in the *MANO
wrist frame*: origin at the wrist, axes from an estimate of the wrist's orientation, then turned by its
``OPERATOR2MANO`` matrix. Its MediaPipe example does exactly that; :func:`joints_in_wrist_frame` does the
same to our camera-frame joints. The wrist estimate depends only on the joints' relative positions, so
the result does not depend on the camera's orientation (any frame the joints are given in works).

The conversion is ROS-free numpy; :class:`HandRetargeter` (the optimiser) imports dex_retargeting only
when it is built, so that this module imports without the extra.

Inverse pair: :func:`joints_in_wrist_frame` maps camera-frame joints to the wrist frame;
:func:`joints_from_wrist_frame` maps them back, given the same wrist origin and rotation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fast_hamer_core.skeleton import NUM_JOINTS, SIDES

#: dex-retargeting's ``OPERATOR2MANO_RIGHT`` / ``_LEFT`` (constants.py): the estimated wrist frame
#: (x: middle knuckle -> wrist, y: palm normal, z: middle -> index knuckle) -> MANO's wrist axes.
OPERATOR2MANO: dict[str, np.ndarray] = {
    "right": np.array([[0, 0, -1], [-1, 0, 0], [0, 1, 0]], dtype=np.float64),
    "left": np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=np.float64),
}
#: dex-retargeting's robot names (``RobotName``) -> the stem of its shipped config files.
ROBOTS: dict[str, str] = {
    "allegro": "allegro_hand",
    "shadow": "shadow_hand",
    "svh": "schunk_svh_hand",
    "leap": "leap_hand",
    "ability": "ability_hand",
    "inspire": "inspire_hand",
    "panda": "panda_gripper",
}
#: Optimisers for teleoperation: 'vector' (link vectors) and 'dexpilot' (vector + finger-closing prior).
RETARGETING_TYPES: tuple[str, ...] = ("vector", "dexpilot")

WRIST, INDEX_MCP, MIDDLE_MCP = 0, 5, 9


def estimate_wrist_rotation(joints_m: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose columns are the operator wrist frame's axes, expressed in the joints' frame:
    x = wrist - middle MCP projected onto the palm plane, y = the normal of the plane through wrist,
    index MCP and middle MCP (sign: z = x cross y points from the middle to the index knuckle). This is
    the frame of dex-retargeting's MediaPipe example (``estimate_frame_from_hand_points``), the same for
    both sides. ``joints_m``: (21, 3) in any frame (metres)."""
    joints_m = _check_joints(joints_m)
    points = joints_m[[WRIST, INDEX_MCP, MIDDLE_MCP]]  # (3, 3) rows: wrist, index MCP, middle MCP
    x_dir = points[0] - points[2]
    centred = points - points.mean(axis=0, keepdims=True)
    normal = np.linalg.svd(centred)[2][2]  # least-squares plane normal (last right singular vector)
    x = x_dir - np.dot(x_dir, normal) * normal
    x = x / np.linalg.norm(x)
    z = np.cross(x, normal)
    if np.dot(z, points[1] - points[2]) < 0:
        normal, z = -normal, -z
    return np.stack([x, normal, z], axis=1)  # columns x, y, z


def joints_in_wrist_frame(joints_m: np.ndarray, side: str) -> np.ndarray:
    """(21, 3) joints in dex-retargeting's MANO wrist frame (metres): wrist at the origin, rotated into
    :func:`estimate_wrist_rotation`'s frame, then by ``OPERATOR2MANO[side]``. ``joints_m`` are (21, 3)
    camera-frame joints of a ``side`` hand ("left" or "right"; left hands use ``OPERATOR2MANO_LEFT``, as
    dex-retargeting's left-hand configs expect). Inverse: :func:`joints_from_wrist_frame`."""
    joints_m = _check_joints(joints_m)
    rotation = estimate_wrist_rotation(joints_m)
    return (joints_m - joints_m[WRIST]) @ rotation @ _operator2mano(side)  # (21, 3)


def joints_from_wrist_frame(
    joints_wrist_m: np.ndarray, side: str, wrist_m: np.ndarray, rotation: np.ndarray
) -> np.ndarray:
    """Inverse of :func:`joints_in_wrist_frame`: wrist-frame joints back to the original frame, given the
    wrist position ``wrist_m`` (3,) and :func:`estimate_wrist_rotation`'s ``rotation`` of the original."""
    return np.asarray(joints_wrist_m, dtype=np.float64) @ _operator2mano(side).T @ rotation.T + wrist_m


def reference_vectors(joints_wrist_m: np.ndarray, human_indices: np.ndarray) -> np.ndarray:
    """The optimiser's input: (K, 3) vectors ``joints[task] - joints[origin]`` for the (2, K) index rows
    ``human_indices`` (origin row, task row) of a vector or DexPilot optimiser."""
    indices = np.asarray(human_indices, dtype=np.int64).reshape(2, -1)
    return joints_wrist_m[indices[1]] - joints_wrist_m[indices[0]]


def shipped_config_path(robot: str, side: str, retargeting: str) -> Path:
    """dex-retargeting's teleop config for ``robot`` (a :data:`ROBOTS` name), ``side`` and ``retargeting``
    (:data:`RETARGETING_TYPES`); ValueError naming what is unknown, ImportError without the extra."""
    if robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}: one of {', '.join(ROBOTS)}")
    if retargeting not in RETARGETING_TYPES:
        raise ValueError(f"unknown retargeting {retargeting!r}: one of {', '.join(RETARGETING_TYPES)}")
    _operator2mano(side)
    configs = Path(_import_dex().__file__).parent / "configs" / "teleop"
    stem = ROBOTS[robot] if robot == "panda" else f"{ROBOTS[robot]}_{side}"
    return configs / (f"{stem}_dexpilot.yml" if retargeting == "dexpilot" else f"{stem}.yml")


@dataclass
class RetargetTimes:
    """Solve times of the optimiser (seconds), for a benchmark table."""

    solves: int = 0
    total_s: float = 0.0
    last_s: float = 0.0

    @property
    def mean_ms(self) -> float:
        return 1000.0 * self.total_s / self.solves if self.solves else 0.0


class HandRetargeter:
    """dex-retargeting's optimiser for one robot hand and one human side.

    ``config_path`` is a dex-retargeting YAML (a shipped one from :func:`shipped_config_path`, or your
    own); its ``urdf_path`` is relative to ``urdf_dir`` (a dexsuite/dex-urdf checkout, or a folder of
    your own). :meth:`retarget` takes camera-frame joints and returns the robot's joint angles (radians /
    metres, in :attr:`joint_names` order); successive calls warm-start from the previous solution and are
    low-pass filtered as the config says (``low_pass_alpha``); :meth:`reset` forgets them."""

    def __init__(self, config_path: str | Path, urdf_dir: str | Path, side: str) -> None:
        self.side = side
        _operator2mano(side)
        config_path, urdf_dir = Path(config_path), Path(urdf_dir)
        if not config_path.is_file():
            raise FileNotFoundError(f"retargeting config {config_path} does not exist")
        if not urdf_dir.is_dir():
            raise FileNotFoundError(f"urdf_dir {urdf_dir} is not a folder (a dexsuite/dex-urdf checkout)")
        _import_dex()
        from dex_retargeting.retargeting_config import RetargetingConfig

        RetargetingConfig.set_default_urdf_dir(str(urdf_dir))
        try:
            config = RetargetingConfig.load_from_file(config_path)
        except (ValueError, KeyError, TypeError) as exc:  # e.g. "URDF path ... does not exist"
            raise ValueError(f"retargeting config {config_path}: {exc}") from None
        self.config_path = config_path
        self.retargeting_type = config.type  # "vector" | "dexpilot" | "position"
        if self.retargeting_type not in RETARGETING_TYPES:
            raise ValueError(
                f"retargeting config {config_path} is of type {config.type!r}; teleoperation uses "
                f"{' or '.join(RETARGETING_TYPES)}"
            )
        self._seq = config.build()
        self._indices = np.asarray(self._seq.optimizer.target_link_human_indices)  # (2, K)
        self.times = RetargetTimes()

    @property
    def joint_names(self) -> list[str]:
        """The robot's joint names, in the order of :meth:`retarget`'s output."""
        return list(self._seq.joint_names)

    @property
    def human_indices(self) -> np.ndarray:
        """(2, K) human joint indices (origin row, task row) of the optimiser's vectors."""
        return self._indices.copy()

    def retarget(self, joints_cam_m: np.ndarray) -> np.ndarray:
        """(21, 3) camera-frame joints of the configured side -> (dof,) robot joint positions."""
        ref = reference_vectors(joints_in_wrist_frame(joints_cam_m, self.side), self._indices)
        start = time.perf_counter()
        qpos = np.asarray(self._seq.retarget(ref), dtype=np.float64)
        self.times.last_s = time.perf_counter() - start
        self.times.total_s += self.times.last_s
        self.times.solves += 1
        return qpos

    def reset(self) -> None:
        """Forget the previous solution (the next solve starts from the joint limits' middle)."""
        self._seq.reset()
        if self._seq.filter is not None:
            self._seq.filter.reset()


def _operator2mano(side: str) -> np.ndarray:
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return OPERATOR2MANO[side]


def _check_joints(joints_m: np.ndarray) -> np.ndarray:
    joints_m = np.asarray(joints_m, dtype=np.float64)
    if joints_m.shape != (NUM_JOINTS, 3):
        raise ValueError(f"expected ({NUM_JOINTS}, 3) joints, got shape {joints_m.shape}")
    if not np.isfinite(joints_m).all():
        raise ValueError("joints contain NaN or inf")
    return joints_m


def _import_dex():
    try:
        import dex_retargeting
    except ImportError as exc:
        raise ImportError("dex_retargeting is not installed: pip install 'fast_hamer_ros[retarget]'") from exc
    return dex_retargeting
