"""Hand meshes as files: Wavefront ``.obj`` and ASCII ``.ply`` (with a vertex colour), and their readers.

Vertices are written as given: :mod:`fast_hamer_core.cli.infer` passes them in metres in the camera
optical frame (x right, y down, z forward), so meshes of one image line up when opened together.
Faces are 0-based in memory and 1-based in ``.obj`` (the format's rule). Inverse pairs:
:func:`write_obj` / :func:`read_obj`, :func:`write_ply` / :func:`read_ply`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mesh_stem(frame_name: str, side: str, track_id: int | None, index: int) -> str:
    """File stem of one hand: ``<frame>_<side>_track<id>`` when tracked, else ``<frame>_<side>_<index>``
    (``index``: the hand's rank among the frame's hands, so two untracked right hands get two files)."""
    return f"{frame_name}_{side}_track{track_id}" if track_id is not None else f"{frame_name}_{side}_{index}"


def write_obj(path: str | Path, vertices_m: np.ndarray, faces: np.ndarray, comment: str = "") -> Path:
    """(V, 3) vertices and (F, 3) 0-based triangles -> ``.obj``. Inverse: :func:`read_obj`."""
    path = Path(path)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices_m, dtype=np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, dtype=np.int64)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``.obj`` (``v`` and triangular ``f`` lines) -> (V, 3) float64 vertices, (F, 3) 0-based faces."""
    vertices, faces = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            vertices.append([float(v) for v in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 3), np.asarray(faces, dtype=np.int64).reshape(
        -1, 3
    )


def write_ply(
    path: str | Path,
    vertices_m: np.ndarray,
    faces: np.ndarray,
    color_rgb: tuple[int, int, int] = (200, 200, 200),
) -> Path:
    """(V, 3) vertices, (F, 3) triangles and one RGB colour for every vertex -> ASCII ``.ply``.
    Inverse: :func:`read_ply`."""
    path = Path(path)
    vertices = np.asarray(vertices_m, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    r, g, b = (int(c) for c in color_rgb)
    header = [
        "ply",
        "format ascii 1.0",
        "comment metres, camera optical frame (x right, y down, z forward)",
        f"element vertex {len(vertices)}",
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    body = [f"{x:.6f} {y:.6f} {z:.6f} {r} {g} {b}" for x, y, z in vertices]
    body += [f"3 {a} {b_} {c}" for a, b_, c in faces]
    path.write_text("\n".join(header + body) + "\n")
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ASCII ``.ply`` of :func:`write_ply` -> (V, 3) vertices, (F, 3) faces, (V, 3) uint8 colours."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] != "ply" or "format ascii 1.0" not in lines[1]:
        raise ValueError(f"{path}: not an ASCII .ply file")
    n_vertices = int(next(line.split()[2] for line in lines if line.startswith("element vertex")))
    n_faces = int(next(line.split()[2] for line in lines if line.startswith("element face")))
    start = lines.index("end_header") + 1
    rows = np.array([line.split() for line in lines[start : start + n_vertices]], dtype=np.float64)
    faces = np.array([line.split()[1:4] for line in lines[start + n_vertices : start + n_vertices + n_faces]])
    return rows[:, :3], faces.astype(np.int64).reshape(-1, 3), rows[:, 3:6].astype(np.uint8)
