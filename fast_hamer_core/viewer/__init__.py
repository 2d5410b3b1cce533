"""A 3D hand viewer in the browser for machines without RViz (viser: its wheel ships the web client, so it
works offline).

- :mod:`.scene`: ROS-shaped messages (MarkerArray, TFMessage, CameraInfo; rclpy's or ``rosbags``' objects,
  duck-typed) -> plain arrays: :class:`HandScene` of hand meshes, skeletons, labels and joint frames.
- :mod:`.viser_view`: :class:`HandViewer` draws a :class:`HandScene`, the camera and its image in a viser
  server (camera optical frame, the view starts at the camera).
- :mod:`.playback`: plays a rosbag2 bag (a recording of the node) into a viewer at its recorded rate.
- :mod:`.browser`: headless Chromium screenshots of a page (tests, ``fast-hamer view --screenshot``).
"""
