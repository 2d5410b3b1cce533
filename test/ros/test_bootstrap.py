"""The set-up step (tf2_msgs from the rosidl wheels) and the ROS process environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fast_hamer_ros import bootstrap
from fast_hamer_ros.environment import fastdds_profile_path, find_data_file, ros_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER_LINE = (
    '  INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
    '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"\n'
)


def test_rewrite_builder_paths_replaces_both_include_dirs_and_is_idempotent():
    new = bootstrap.rewrite_builder_paths(BUILDER_LINE, Path("/py/include/python3.11"), Path("/np/include"))
    assert new == '  INTERFACE_INCLUDE_DIRECTORIES "/py/include/python3.11;/np/include"\n'
    assert bootstrap.rewrite_builder_paths(new, Path("/other"), Path("/x")) == new


def test_rewrite_wheel_cmake_files_touches_only_files_with_builder_paths(tmp_path):
    cmake_dir = tmp_path / "share" / "some_msgs" / "cmake"
    cmake_dir.mkdir(parents=True)
    export = cmake_dir / "export_some_msgs__rosidl_generator_pyExport.cmake"
    export.write_text("set(a 1)\n" + BUILDER_LINE)
    untouched = cmake_dir / "some_msgsConfig.cmake"
    untouched.write_text("set(b 2)\n")
    before = untouched.stat().st_mtime_ns

    changed = bootstrap.rewrite_wheel_cmake_files(tmp_path, Path("/inc"), Path("/npinc"))

    assert changed == [export]
    assert "/opt/python" not in export.read_text() and '"/inc;/npinc"' in export.read_text()
    assert untouched.stat().st_mtime_ns == before
    assert bootstrap.rewrite_wheel_cmake_files(tmp_path, Path("/inc"), Path("/npinc")) == []


def test_package_sources_define_the_ros_tfmessage(tmp_path):
    bootstrap.write_package_sources(tmp_path)
    msg = (tmp_path / "msg" / "TFMessage.msg").read_text()
    fields = [line for line in msg.splitlines() if line and not line.startswith("#")]
    assert fields == ["geometry_msgs/TransformStamped[] transforms"]
    package = ET.parse(tmp_path / "package.xml").getroot()
    assert package.findtext("name") == "tf2_msgs"
    assert package.findtext("member_of_group") == "rosidl_interface_packages"
    assert "rosidl_generate_interfaces" in (tmp_path / "CMakeLists.txt").read_text()


def test_missing_build_tools_are_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    for var in ("CC", "CXX", "CMAKE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(bootstrap.BootstrapError, match="cmake, C compiler, C\\+\\+ compiler, make or ninja"):
        bootstrap.check_build_tools()


def test_missing_build_packages_listed_for_an_empty_prefix(tmp_path):
    assert "rosidl_default_generators" in bootstrap.missing_build_packages(tmp_path)
    assert bootstrap.missing_build_packages(Path(sys.prefix)) == []


def test_build_into_a_fresh_prefix_gives_an_importable_tf2_msgs(tmp_path):
    """The real CMake build (dependencies from this venv), installed into an empty directory."""
    prefix = Path(sys.prefix)
    python = bootstrap.prefix_python(prefix)
    bootstrap.check_build_tools()
    bootstrap.rewrite_wheel_cmake_files(prefix, *bootstrap.python_build_paths(python))  # as ensure_tf2_msgs
    logs: list[str] = []
    bootstrap.build_tf2_msgs(prefix, python, jobs=2, log=logs.append, install_prefix=tmp_path)
    site = tmp_path / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (site / "tf2_msgs" / "msg" / "_tf_message.py").is_file()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site)
    env["LD_LIBRARY_PATH"] = os.pathsep.join([str(tmp_path / "lib"), env.get("LD_LIBRARY_PATH", "")])
    code = (
        "import tf2_msgs.msg as m; from geometry_msgs.msg import TransformStamped as T;"
        "x = m.TFMessage(transforms=[T()]); print(m.__file__, len(x.transforms))"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0].startswith(str(site)) and proc.stdout.split()[1] == "1"
    assert any(line.startswith("$ cmake --install") for line in logs)


def test_bootstrap_cli_is_quick_and_builds_nothing_when_tf2_msgs_exists():
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fast_hamer_ros.bootstrap"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    # The first run of a session may have had to build; the second is the idempotent fast path.
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fast_hamer_ros.bootstrap"], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert "nothing to build" in proc.stdout
    assert time.monotonic() - start < 20
    assert bootstrap.find_tf2_msgs(bootstrap.prefix_python(Path(sys.prefix))) is not None


def test_bootstrap_module_does_not_import_rclpy():
    code = "import sys, fast_hamer_ros.bootstrap, fast_hamer_ros.environment; print('rclpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_ros_environment_keeps_dds_on_localhost_with_the_product_profile(monkeypatch):
    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
    env = ros_environment(domain_id=42)
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["ROS_DOMAIN_ID"] == "42"
    assert env["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"
    assert sys.prefix in env["AMENT_PREFIX_PATH"].split(os.pathsep)
    profile = Path(env["FASTDDS_DEFAULT_PROFILES_FILE"])
    assert profile == fastdds_profile_path() and profile.is_file()
    assert ros_environment()["ROS_DOMAIN_ID"] == "0"
    monkeypatch.setenv("ROS_DOMAIN_ID", "17")
    assert ros_environment()["ROS_DOMAIN_ID"] == "17"
    with pytest.raises(ValueError, match=r"0\.\.232"):
        ros_environment(domain_id=233)
    monkeypatch.setenv("ROS_DOMAIN_ID", "abc")
    with pytest.raises(ValueError, match="integer"):
        ros_environment()


def test_product_fastdds_profile_has_big_shm_and_loopback_udp_only():
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(fastdds_profile_path()).getroot()
    descriptors = {
        d.findtext("d:transport_id", namespaces=ns): d
        for d in root.iter(f"{{{ns['d']}}}transport_descriptor")
    }
    kinds = {tid: d.findtext("d:type", namespaces=ns) for tid, d in descriptors.items()}
    assert sorted(kinds.values()) == ["SHM", "UDPv4"]
    shm = next(d for d in descriptors.values() if d.findtext("d:type", namespaces=ns) == "SHM")
    assert int(shm.findtext("d:segment_size", namespaces=ns)) >= 16 * 1024 * 1024
    udp = next(d for d in descriptors.values() if d.findtext("d:type", namespaces=ns) == "UDPv4")
    assert [a.text for a in udp.iter(f"{{{ns['d']}}}address")] == ["127.0.0.1"]
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext(".//d:useBuiltinTransports", namespaces=ns) == "false"


def test_find_data_file_names_the_places_searched():
    assert find_data_file("config/fastdds_localhost_shm.xml").is_file()
    with pytest.raises(FileNotFoundError, match=r"config/nope\.yaml not found; searched"):
        find_data_file("config/nope.yaml")
