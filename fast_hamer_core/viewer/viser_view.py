""":class:`HandViewer`: a viser server showing hands in 3D in the camera frame, for any browser, offline.

World frame = the camera optical frame (x right, y down, z forward; metres). The view starts at the camera
(eye at the origin, looking along +z, its vertical field of view), so the meshes first appear where they
project in the image; orbit with the mouse to see them in 3D. Drawn: the camera frustum with the input
image at ``image_depth_m``, each hand's mesh (its side colour), skeleton, joints and a ``side #track``
label, the joints' TF axes, and the overlay image (2D, with the node's drawing) in the control panel.
"""

from __future__ import annotations

import math

import numpy as np

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.viewer.scene import HandDrawing, HandScene

#: Scene-tree roots.
HANDS_ROOT, FRAMES_ROOT, CAMERA_NODE = "/hands", "/tf", "/camera"
#: Joint axes: length and radius (m).
AXES_LENGTH_M, AXES_RADIUS_M = 0.015, 0.0012
BONE_THICKNESS_M, JOINT_SIZE_M = 0.003, 0.008


def frustum_pose(camera: PinholeCamera, depth_m: float) -> tuple[float, float, tuple[float, float, float]]:
    """(vertical fov rad, aspect, position) of a viser frustum whose image plane at ``depth_m`` covers the
    image exactly: viser centres its frustum on the optical axis, so it is shifted by the principal point's
    offset from the image centre (at that depth)."""
    w, h = camera.width, camera.height
    fov = 2.0 * math.atan(h / (2.0 * camera.fy))
    aspect = (w / camera.fx) / (h / camera.fy)
    shift = ((w / 2.0 - camera.cx) * depth_m / camera.fx, (h / 2.0 - camera.cy) * depth_m / camera.fy, 0.0)
    return fov, aspect, shift


class HandViewer:
    """A viser server at ``http://host:port`` (:attr:`url`); call the ``show_*`` methods as data arrives.

    ``image_depth_m``: where the input image hangs in the frustum (behind the hands, so that from the
    camera's eye the meshes are drawn over it). ``panel``: show the control panel (with the overlay image);
    False keeps the canvas clear (screenshots)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 8080, image_depth_m: float = 2.0, panel: bool = True
    ):
        import viser

        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.host, self.port = host, self.server.get_port()
        self.image_depth_m = float(image_depth_m)
        scene = self.server.scene
        scene.set_up_direction("-y")  # the optical frame: y down
        scene.world_axes.visible = False
        cam = self.server.initial_camera
        cam.position, cam.look_at, cam.up = (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)
        cam.near = 0.01
        self.server.gui.configure_theme(show_logo=False, show_share_button=False)
        if not panel:
            self.server.gui.main_panel.minimize()
        self.status = self.server.gui.add_markdown("waiting for data")
        self.show_axes = self.server.gui.add_checkbox("joint TF axes", initial_value=True)
        self.overlay = None
        self.camera: PinholeCamera | None = None
        self._hand_nodes: dict[int, list] = {}
        self._frame_nodes: dict[str, object] = {}
        self._image: np.ndarray | None = None
        self.updates = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def show_camera(self, camera: PinholeCamera) -> None:
        """Set the intrinsics (the starting view's field of view and the frustum)."""
        if self.camera == camera:
            return
        self.camera = camera
        self.server.initial_camera.fov = 2.0 * math.atan(camera.height / (2.0 * camera.fy))
        for client in self.server.get_clients().values():
            client.camera.fov = self.server.initial_camera.fov
        if self._image is not None:
            self.show_image(self._image)

    def show_image(self, rgb: np.ndarray) -> None:
        """The input image, in the frustum at ``image_depth_m`` (needs a camera; an assumed one otherwise)."""
        self._image = rgb
        if self.camera is None:
            self.show_camera(PinholeCamera.assumed(rgb.shape[1], rgb.shape[0], 0.0))
            return
        fov, aspect, shift = frustum_pose(self.camera, self.image_depth_m)
        self.server.scene.add_camera_frustum(
            CAMERA_NODE,
            fov=fov,
            aspect=aspect,
            scale=self.image_depth_m,
            image=rgb,
            format="jpeg",
            position=shift,
            color=(120, 120, 120),
            thickness=0.004,
        )

    def show_overlay(self, rgb: np.ndarray) -> None:
        """The node's 2D overlay (mesh, skeleton and labels drawn on the image) in the control panel."""
        if self.overlay is None:
            self.overlay = self.server.gui.add_image(rgb, label="overlay", format="jpeg")
        else:
            self.overlay.image = rgb

    def show_scene(self, scene: HandScene) -> None:
        """Draw the hands and joint frames of ``scene``, removing those no longer in it."""
        for hand_id in list(self._hand_nodes):
            if hand_id not in scene.hands:
                for node in self._hand_nodes.pop(hand_id):
                    node.remove()
        for hand in scene.hands.values():
            self._draw_hand(hand)
        for name in list(self._frame_nodes):
            if name not in scene.frames or not self.show_axes.value:
                self._frame_nodes.pop(name).remove()
        if self.show_axes.value:
            for frame in scene.frames.values():
                self._frame_nodes[frame.child] = self.server.scene.add_frame(
                    f"{FRAMES_ROOT}/{frame.child}",
                    axes_length=AXES_LENGTH_M,
                    axes_radius=AXES_RADIUS_M,
                    origin_radius=AXES_RADIUS_M,
                    position=frame.translation_m,
                    wxyz=frame.quaternion_wxyz,
                )
        labels = [h.label for h in scene.hands.values() if h.label]
        self.status.content = f"{len(scene.hands)} hand(s): " + (", ".join(labels) or "none")
        self.updates += 1

    def _draw_hand(self, hand: HandDrawing) -> None:
        scene, root, nodes = self.server.scene, f"{HANDS_ROOT}/{hand.hand_id}", []
        if hand.triangles_m is not None:
            vertices = hand.triangles_m.reshape(-1, 3)  # (F, 3, 3) -> (3F, 3)
            faces = np.arange(len(vertices), dtype=np.uint32).reshape(-1, 3)
            nodes.append(
                scene.add_mesh_simple(
                    f"{root}/mesh", vertices, faces, color=hand.color_rgb, side="double", flat_shading=True
                )
            )
        if hand.bones_m is not None:
            nodes.append(
                scene.add_line_segments(
                    f"{root}/skeleton", hand.bones_m, colors=(255, 255, 255), thickness=BONE_THICKNESS_M
                )
            )
        if hand.joints_m is not None:
            nodes.append(
                scene.add_point_cloud(
                    f"{root}/joints",
                    hand.joints_m,
                    colors=hand.color_rgb,
                    point_size=JOINT_SIZE_M,
                    point_shape="circle",
                )
            )
        if hand.label and hand.label_m is not None:
            nodes.append(scene.add_label(f"{root}/label", hand.label, position=hand.label_m))
        old = self._hand_nodes.get(hand.hand_id, [])
        for node in old:  # parts the hand no longer has (e.g. lost its mesh)
            if node.name not in {n.name for n in nodes}:
                node.remove()
        self._hand_nodes[hand.hand_id] = nodes

    def close(self) -> None:
        self.server.stop()
