"""Screenshots of a web page with headless Chromium, driven over the DevTools protocol (no extra package:
the ``websockets`` client that viser brings). For the viewer's tests and ``fast-hamer view --screenshot``.

Chromium runs with the flags a sandboxed CI machine needs (no sandbox, no GPU: WebGL falls back to
SwiftShader, no network services) and a fresh, empty profile.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

#: Chromium executables looked for on PATH, in order.
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",  # software WebGL without a GPU
    "--remote-debugging-port=0",
)


def find_chromium() -> str:
    """The Chromium executable; FileNotFoundError says how to install it when there is none."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found (apt-get install -y chromium, or `make env` installs it)")


class _DevTools:
    """A minimal DevTools-protocol client of one page target."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self._ws = connect(ws_url, max_size=2**28, open_timeout=30)
        self._id = 0

    def call(self, method: str, timeout_s: float = 60.0, **params) -> dict:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            reply = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"Chromium {method}: {reply['error']}")
                return reply.get("result", {})

    def close(self) -> None:
        self._ws.close()


def screenshot(
    url: str,
    out_png: str | Path,
    size: tuple[int, int] = (1280, 720),
    ready: Callable[[], bool] | None = None,
    settle_s: float = 3.0,
    timeout_s: float = 90.0,
) -> Path:
    """Open ``url`` in headless Chromium at ``size`` (W, H) CSS pixels, wait until ``ready()`` is true
    (e.g. the viewer has shown some frames) and then ``settle_s`` more, and save a PNG screenshot."""
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    # Chromium's helper processes (renderer, GPU, crash handler) may still write into the profile while it
    # is removed: they are stopped with the browser (its own process group), and a file one of them left
    # behind does not turn a taken screenshot into an error.
    with tempfile.TemporaryDirectory(prefix="fast_hamer_chromium_", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [
                find_chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped with all its helpers
        )
        try:
            devtools = _DevTools(_page_websocket(Path(profile), proc, timeout_s))
            try:
                devtools.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=size[0],
                    height=size[1],
                    deviceScaleFactor=1,
                    mobile=False,
                )
                devtools.call("Page.enable")
                devtools.call("Page.navigate", url=url)
                deadline = time.monotonic() + timeout_s
                while ready is not None and not ready():
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{url} was not ready within {timeout_s:.0f} s")
                    time.sleep(0.2)
                time.sleep(settle_s)
                data = devtools.call("Page.captureScreenshot", format="png")["data"]
            finally:
                devtools.close()
        finally:
            _stop_group(proc)
    out_png.write_bytes(base64.b64decode(data))
    return out_png


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop Chromium and every helper of its process group: SIGTERM, up to 10 s for the browser to exit,
    then SIGKILL for whatever of the group is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # the whole group is gone already
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    time.sleep(0.2)  # helpers got the SIGTERM with the browser: a moment to exit
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _page_websocket(profile: Path, proc: subprocess.Popen, timeout_s: float) -> str:
    """The DevTools WebSocket URL of Chromium's first page (Chromium writes its port to the profile)."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited ({proc.returncode}) before it opened its DevTools port")
        if port_file.is_file() and port_file.read_text().strip():
            port = port_file.read_text().split()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as reply:
                    targets = json.load(reply)
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"Chromium did not open its DevTools port within {timeout_s:.0f} s")
