"""A real JupyterLab server on 127.0.0.1, isolated from the user's Jupyter config, for the tests.

Kept apart from the fixtures so a person can start the same lab by hand when a check fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kimi_magic.core.constants import (
    ENV_ACCOUNT_ID,
    ENV_API_TOKEN,
    ENV_BASE_URL,
    ENV_OPENAI_BASE_URL,
)

# Debian's Chromium (Playwright's own download cannot work here) and the flags that let it run
# headless in a container; the browser tests and the browser benchmarks launch it alike.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

# The news pop-up and update check would cover the notebook and reach the network.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass(frozen=True)
class Lab:
    """A running lab: where it listens, its token, and the folder it serves."""

    url: str
    token: str
    root: Path

    def tree_url(self, notebook: str) -> str:
        """The address that opens `notebook` (a path under root) in the lab."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"


def shut_down_sessions(lab: Lab) -> None:
    """End every notebook session and its kernel, so kernels do not pile up across tests."""
    headers = {"Authorization": f"token {lab.token}"}
    request = urllib.request.Request(f"{lab.url}/api/sessions", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        sessions = json.load(reply)
    for session in sessions:
        delete = urllib.request.Request(
            f"{lab.url}/api/sessions/{session['id']}", headers=headers, method="DELETE"
        )
        with urllib.request.urlopen(delete, timeout=30):
            pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_user_settings(config_dir: Path) -> None:
    for relative, settings in USER_SETTINGS.items():
        path = config_dir / "lab" / "user-settings" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings), encoding="utf-8")


def kernel_environment(base: Mapping[str, str], emulator_env: Mapping[str, str]) -> dict[str, str]:
    """The server's (and so its kernels') environment: the emulator's credentials, no others."""
    drop = {*ENV_ACCOUNT_ID, *ENV_API_TOKEN, ENV_BASE_URL, ENV_OPENAI_BASE_URL}
    env = {k: v for k, v in base.items() if k not in drop}
    env.update(emulator_env)
    return env


@contextmanager
def running_lab(root: Path, home: Path, emulator_env: Mapping[str, str]) -> Iterator[Lab]:
    """Start `jupyter lab` serving `root`, wait until it answers, and end its process group."""
    config_dir = home / "config"
    write_user_settings(config_dir)
    env = kernel_environment(os.environ, emulator_env)
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(config_dir / "lab" / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    port, token = free_port(), "browser-test-" + os.urandom(8).hex()
    log = (home / "lab.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        _wait_until_up(lab, process, home / "lab.log")
        yield lab
    finally:
        _stop_group(process)
        log.close()


def _wait_until_up(lab: Lab, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with {process.returncode}:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(
        f"JupyterLab did not answer within {START_TIMEOUT_S:.0f} s:\n"
        + log.read_text(errors="replace")[-3000:]
    )


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    # The lab's kernels are in its process group: end them all, by the group id we created.
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)
