"""A real JupyterLab server for browser tests: 127.0.0.1, a random port, a token, isolated settings.

The server runs in its own process group with its own runtime, config, settings
and workspaces folders under the test's tmp_path, so neither the developer's
JupyterLab setup nor the repository is touched; it is always torn down.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACTS = Path(os.environ.get("SOUNDFORGE_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")
"""Where browser tests save screenshots (gitignored; listed at the end of the pytest run)."""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
"""Flags for Debian's headless Chromium (no sandbox in containers, no network side traffic)."""

_SETTINGS = {
    # Attach every cell to the DOM, so the whole notebook can be inspected and photographed.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No news or update checks (no network) and no toast asking about them.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def find_chromium() -> str | None:
    """Path of a Chromium executable (``$SOUNDFORGE_CHROMIUM``, else ``chromium`` on PATH), or None."""
    return os.environ.get("SOUNDFORGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def browser_required() -> bool:
    """True in CI (``$CI``) or under ``make test`` (``$SOUNDFORGE_REQUIRE_BROWSER``): never skip there."""
    flags = (os.environ.get("CI", ""), os.environ.get("SOUNDFORGE_REQUIRE_BROWSER", ""))
    return any(f.strip().lower() not in {"", "0", "false", "no"} for f in flags)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: ``url`` (no trailing slash), ``token`` and its log file."""

    url: str
    token: str
    log: Path

    def lab_url(self, path: str) -> str:
        """URL opening ``path`` (relative to the server root) in the lab UI, token included."""
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def api(self, path: str) -> Any:
        """GET ``/api/<path>`` and decode the JSON answer."""
        with urllib.request.urlopen(f"{self.url}/api/{path}?token={self.token}", timeout=10) as reply:  # noqa: S310
            return json.loads(reply.read())

    def wait_for_kernel(self, notebook: str, *, timeout_s: float = 90.0) -> None:
        """Wait until ``notebook`` has a kernel that is idle and connected to a page (a websocket)."""
        deadline = time.monotonic() + timeout_s
        seen: Any = None
        while time.monotonic() < deadline:
            for session in self.api("sessions"):
                if session.get("path") == notebook and session.get("kernel"):
                    seen = self.api(f"kernels/{session['kernel']['id']}")
                    if seen.get("execution_state") == "idle" and int(seen.get("connections") or 0) >= 1:
                        return
            time.sleep(0.25)
        raise TimeoutError(f"No idle, connected kernel for {notebook} within {timeout_s:g} s (last: {seen}):\n"
                           f"{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


def _write_settings(folder: Path) -> None:
    for name, values in _SETTINGS.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def _stop(proc: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


@contextlib.contextmanager
def jupyterlab(root: Path, *, state: Path, env: dict[str, str], startup_timeout_s: float = 90.0
               ) -> Iterator[LabServer]:
    """Run JupyterLab serving ``root`` until the block exits.

    Parameters
    ----------
    root : pathlib.Path
        Folder served (the notebooks under test are copied there).
    state : pathlib.Path
        Folder for the server's runtime, config, settings, workspaces and log.
    env : dict[str, str]
        Environment of the server and so of its kernels.
    startup_timeout_s : float
        Longest wait for the server to answer, in seconds.
    """
    token = secrets.token_hex(24)
    port = free_port()
    for sub in ("runtime", "config", "settings", "workspaces", "data"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    _write_settings(state / "settings")
    server_env = {**env, "JUPYTER_RUNTIME_DIR": str(state / "runtime"), "JUPYTER_CONFIG_DIR": str(state / "config"),
                  "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
                  "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"), "JUPYTER_NO_CONFIG": "1"}
    log = state / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    with open(log, "wb") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=server_env, cwd=root,
                                start_new_session=True)
    server = LabServer(url=f"http://127.0.0.1:{port}", token=token, log=log)
    try:
        _wait_until_up(server, proc, timeout_s=startup_timeout_s)
        yield server
    finally:
        _stop(proc)


def _wait_until_up(server: LabServer, proc: subprocess.Popen[bytes], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    status = f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            with urllib.request.urlopen(status, timeout=5) as reply:  # noqa: S310 - 127.0.0.1 only
                if reply.status == 200:
                    return
        time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer within {timeout_s:g} s:\n{server.log_tail()}")
