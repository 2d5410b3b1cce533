"""``fast-hamer-ros-run --managed``: the pip-only runner starts hand_mesh_node as a lifecycle node, drives
it to active through its lifecycle services, and the run completes as with the plain node."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from ros_harness import HANDS_DIR, REPO_ROOT, unique_domain_id

from fast_hamer_core.detection.assets import ensure_detector_model


def test_runner_configures_and_activates_the_managed_node(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["FAST_HAMER_DETECTOR_MODEL"] = str(ensure_detector_model())
    env["FAST_HAMER_MODELS"] = str(tmp_path / "models")  # no checkpoint: landmarks-only
    out = tmp_path / "out"
    args = [str(HANDS_DIR), "--max-frames", "2", "--output", str(out), "--device", "cpu", "--managed"]
    proc = subprocess.run(
        [sys.executable, "-m", "fast_hamer_ros.run", *args, "--domain-id", str(unique_domain_id())],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lifecycle: hand_mesh_node is active" in proc.stdout
    log = (out / "logs" / "hand_mesh_node.log").read_text()
    steps = [
        re.search(rf"\]: {text}", log, re.M)
        for text in ("managed node: unconfigured", "configured", "active$")
    ]
    assert all(steps) and steps[0].start() < steps[1].start() < steps[2].start(), log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "landmarks" and summary["frames_answered"] == 2
