"""Which frontends deliver a widget click while a cell runs, without `process_ui_events`?

For each frontend that runs here, a cell displays a Button and busy-waits (sleeping in short
steps, never calling the pump) until the button is clicked or WAIT_S pass; the click is sent
mid-wait. The kernel records whether the click's callback ran while the cell was still running,
and on which thread, and every busy/idle status it published meanwhile.

    PYTHONPATH=. python benchmarks/measure_stop_routing.py            # all frontends
    PYTHONPATH=. python benchmarks/measure_stop_routing.py client lab  # some of them

Frontends: `client` (plain jupyter_client, what tests/kernel_session.py does), `client-subshell`
(jupyter_client sending the click to a subshell, as JupyterLab 4.6 does), `nbclient`, `lab`
(JupyterLab 4.6 in Chromium, the tests/browser harness), `notebook7` (Notebook 7 from a venv:
`python -m venv /tmp/nb7 && /tmp/nb7/bin/pip install notebook ipywidgets`), `k6` (ipykernel 6
from a venv: `python -m venv /tmp/k6 && /tmp/k6/bin/pip install 'ipykernel<7' ipywidgets
jupyter-ui-poll`). `NAME+kimi` / `NAME+ui-poll` run the same probe with our pump or
jupyter-ui-poll called in the busy loop, for comparison.
VS Code cannot run here (no display, no VS Code server).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WAIT_S = 6.0
CLICK_AFTER_S = 1.0
TIMEOUT_S = 60.0

SETUP = """
import json, threading, time
import ipywidgets as widgets
from IPython.display import display
_probe = {"running": False, "clicks": [], "status": []}
def _on_click(_b):
    _probe["clicks"].append(
        {"mid_cell": _probe["running"], "thread": threading.current_thread().name}
    )
probe_button = widgets.Button(description="Probe")
probe_button.on_click(_on_click)
_kernel = get_ipython().kernel
_publish = _kernel._publish_status
def _logged(status, channel, parent=None):
    if _probe["running"]:
        header = (parent or _kernel.get_parent(channel)).get("header", {})
        _probe["status"].append([status, channel, header.get("msg_type")])
    return _publish(status, channel, parent)
_kernel._publish_status = _logged
print("PROBE-READY", probe_button.model_id)
"""

# What the busy loop calls each step: nothing (the question measured), or a pump to compare.
PUMPS = {
    "": ("import contextlib; _pump = contextlib.nullcontext(lambda: None)", ""),
    "kimi": (
        "import contextlib; from kimi_magic.render.ui_events import process_ui_events\n"
        "_pump = contextlib.nullcontext(process_ui_events)",
        "+kimi pump",
    ),
    "ui-poll": (
        "from jupyter_ui_poll import ui_events as _pump_cm; _pump = _pump_cm()",
        "+ui-poll",
    ),
}


def busy_cell(pump: str = "") -> str:
    return f"""
{PUMPS[pump][0]}
_probe["clicks"].clear(); _probe["status"].clear(); _probe["running"] = True
display(probe_button)
print("PROBE-WAITING", flush=True)
_t0 = time.monotonic()
with _pump as _poll:
    while not _probe["clicks"] and time.monotonic() - _t0 < {WAIT_S}:
        _poll() if {pump!r} != "ui-poll" else _poll(10)
        time.sleep(0.02)
_probe["running"] = False
"""


BUSY = busy_cell()

REPORT = 'print("PROBE-RESULT " + json.dumps(_probe))'


def summarize(name: str, probe: dict[str, Any], note: str = "") -> dict[str, Any]:
    clicks = probe.get("clicks", [])
    mid = [c for c in clicks if c["mid_cell"]]
    idle_during = [s for s in probe.get("status", []) if s[0] == "idle"]
    return {
        "frontend": name,
        "handled mid-cell": "yes" if mid else ("after the cell" if clicks else "never"),
        "thread": (mid or clicks or [{"thread": "-"}])[0]["thread"],
        "idle published mid-cell": ", ".join(f"{s[1]}:{s[2]}" for s in idle_during) or "none",
        "note": note,
    }


# --- plain jupyter_client -------------------------------------------------------------------


def _iopub_until(client: Any, msg_id: str, text: str | None = None) -> str:
    """Read iopub until `text` is printed by `msg_id` (or its idle); return its stdout."""
    out = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=TIMEOUT_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
            if text and text in "".join(out):
                return "".join(out)
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)
    raise TimeoutError(f"no {text or 'idle'} from the kernel")


def _run(client: Any, code: str) -> str:
    return _iopub_until(client, client.execute(code))


def _click_message(client: Any, comm_id: str, subshell_id: str | None) -> dict[str, Any]:
    content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
    message: dict[str, Any] = client.session.msg("comm_msg", content)
    if subshell_id is not None:
        message["header"]["subshell_id"] = subshell_id
    return message


def measure_client(
    kernel_name: str = "python3", subshell: bool = False, pump: str = ""
) -> dict[str, Any]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name=kernel_name, startup_timeout=TIMEOUT_S)
    try:
        model_id = _run(client, SETUP).split("PROBE-READY", 1)[1].split()[0]
        subshell_id = None
        if subshell:
            request = client.session.msg("create_subshell_request", {})
            client.control_channel.send(request)
            reply = client.get_control_msg(timeout=TIMEOUT_S)
            subshell_id = reply["content"].get("subshell_id")
            if subshell_id is None:
                return summarize("client-subshell", {}, f"no subshells: {reply['content']}")
        busy = client.execute(busy_cell(pump))
        _iopub_until(client, busy, "PROBE-WAITING")
        time.sleep(CLICK_AFTER_S)
        client.shell_channel.send(_click_message(client, model_id, subshell_id))
        _iopub_until(client, busy)
        probe = json.loads(_run(client, REPORT).split("PROBE-RESULT ", 1)[1])
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    name = "client-subshell" if subshell else ("client" if kernel_name == "python3" else "k6")
    return summarize(name + PUMPS[pump][1], probe)


# --- nbclient -------------------------------------------------------------------------------


def measure_nbclient() -> dict[str, Any]:
    """nbclient runs the cells; a second client on the same kernel sends the click, since
    nbclient itself never sends a comm message (no user, nothing to click)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(s) for s in (SETUP, BUSY, REPORT)]
    runner = NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3")
    with runner.setup_kernel():
        runner.execute_cell(notebook.cells[0], 0)
        model_id = notebook.cells[0].outputs[0]["text"].split("PROBE-READY", 1)[1].split()[0]
        clicker = runner.km.blocking_client()
        clicker.start_channels()

        def click() -> None:
            time.sleep(CLICK_AFTER_S + 1.0)  # the busy cell is running by then
            clicker.shell_channel.send(_click_message(clicker, model_id, None))

        thread = threading.Thread(target=click)
        thread.start()
        runner.execute_cell(notebook.cells[1], 1)
        thread.join()
        runner.execute_cell(notebook.cells[2], 2)
        clicker.stop_channels()
    text = "".join(o.get("text", "") for o in notebook.cells[2].outputs)
    return summarize("nbclient", json.loads(text.split("PROBE-RESULT ", 1)[1]))


# --- JupyterLab and Notebook 7 in Chromium --------------------------------------------------

BROWSER_DIR = Path(__file__).resolve().parents[1] / "tests" / "browser"
NOTEBOOK7_PYTHON = Path("/tmp/nb7/bin/python")  # python -m venv /tmp/nb7; pip install notebook


def _new_page(playwright: Any) -> Any:
    browser = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_S * 1000)
    return page


def _probe_page(page: Any, run_cell: Any, bar: Any = None) -> tuple[dict[str, Any], str]:
    """Run setup and the busy cell, click, then (once the cell ended) the report cell alone:
    a report queued behind the busy cell would run before a click that waits for the main
    shell, and miss it. Returns the probe and what the status bar (if any) read."""
    from _notebook_page import cells

    run_cell(0)
    cells(page).nth(0).locator(".jp-OutputArea-output").wait_for()
    run_cell(1)
    button = cells(page).nth(1).get_by_role("button", name="Probe")
    button.wait_for()
    time.sleep(CLICK_AFTER_S)
    read = (lambda: "Idle" if "| Idle" in bar.inner_text() else "Busy") if bar else str
    before = read()
    button.click()
    after = set()
    for _ in range(10):
        after.add(read())
        time.sleep(0.1)
    cells(page).nth(1).locator(".jp-InputPrompt").filter(has_text="[2]").wait_for()
    time.sleep(1.0)  # a click that waited for the cell to end is handled by now
    run_cell(2)
    output = cells(page).nth(2).locator(".jp-OutputArea-output")
    result = output.filter(has_text="PROBE-RESULT")
    result.wait_for()
    probe = json.loads((result.text_content() or "").split("PROBE-RESULT ", 1)[1])
    if os.environ.get("PROBE_DEBUG"):
        print(json.dumps(probe), file=sys.stderr)
    note = f"status bar before the click: {before}; after: {'/'.join(sorted(after))}"
    return probe, note if bar else ""


def measure_lab(pump: str = "") -> dict[str, Any]:
    sys.path.insert(0, str(BROWSER_DIR))
    from _lab import running_lab
    from _notebook_page import open_notebook, run_menu, select_cell, write_notebook
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        root, home = Path(tmp) / "root", Path(tmp) / "home"
        root.mkdir()
        write_notebook(root / "probe.ipynb", SETUP, busy_cell(pump), REPORT)
        with running_lab(root, home, {}) as lab:
            page = _new_page(playwright)
            open_notebook(page, lab, "probe.ipynb")

            def run_cell(index: int) -> None:
                select_cell(page, index)
                run_menu(page, "Run Selected Cell and Do not Advance")

            probe, note = _probe_page(page, run_cell, page.locator("#jp-main-statusbar"))
            page.context.browser.close()
    return summarize("lab" + PUMPS[pump][1], probe, note)


@contextmanager
def _notebook7_server(root: Path, home: Path) -> Iterator[Any]:
    import subprocess

    from _lab import Lab, _stop_group, _wait_until_up, free_port, write_user_settings

    write_user_settings(home / "config")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config")}
    env["JUPYTER_DATA_DIR"] = str(home / "data")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    port, token = free_port(), "probe-" + os.urandom(6).hex()
    log = (home / "nb.log").open("wb")
    server = subprocess.Popen(
        [str(NOTEBOOK7_PYTHON), "-m", "notebook", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    lab = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        _wait_until_up(lab, server, home / "nb.log")
        yield lab
    finally:
        _stop_group(server)
        log.close()


def measure_notebook7(pump: str = "") -> dict[str, Any]:
    """Notebook 7 from its own venv (it pins the same JupyterLab packages); same probe."""
    sys.path.insert(0, str(BROWSER_DIR))
    from _notebook_page import cells, write_notebook
    from playwright.sync_api import sync_playwright

    if not NOTEBOOK7_PYTHON.exists():
        return summarize("notebook7", {}, f"skipped: no {NOTEBOOK7_PYTHON}")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        root, home = Path(tmp) / "root", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        write_notebook(root / "probe.ipynb", SETUP, busy_cell(pump), REPORT)
        with _notebook7_server(root, home) as server:
            page = _new_page(playwright)
            page.goto(f"{server.url}/notebooks/probe.ipynb?token={server.token}")
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
            time.sleep(3.0)  # the indicator says idle before the kernel exists (testing-notes)

            def run_cell(index: int) -> None:
                cells(page).nth(index).locator(".jp-InputPrompt").click()
                page.keyboard.press("Control+Enter")

            probe, note = _probe_page(page, run_cell)
            page.context.browser.close()
    return summarize("notebook7" + PUMPS[pump][1], probe, note)


MEASURES = {
    "client": lambda: measure_client(),
    "client-subshell": lambda: measure_client(subshell=True),
    "nbclient": measure_nbclient,
    "lab": measure_lab,
    "k6": lambda: measure_client(kernel_name="k6"),
    "client+kimi": lambda: measure_client(pump="kimi"),
    "client+ui-poll": lambda: measure_client(pump="ui-poll"),
    "lab+kimi": lambda: measure_lab(pump="kimi"),
    "lab+ui-poll": lambda: measure_lab(pump="ui-poll"),
    "notebook7": measure_notebook7,
    "notebook7+kimi": lambda: measure_notebook7(pump="kimi"),
    "k6+kimi": lambda: measure_client(kernel_name="k6", pump="kimi"),
    "k6+ui-poll": lambda: measure_client(kernel_name="k6", pump="ui-poll"),
}


def register_k6() -> bool:
    """Register /tmp/k6's ipykernel 6 as kernelspec `k6` (user-level, idempotent)."""
    python = Path("/tmp/k6/bin/python")
    if not python.exists():
        return False
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        spec = {
            "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "ipykernel 6",
            "language": "python",
        }
        (Path(tmp) / "kernel.json").write_text(json.dumps(spec))
        KernelSpecManager().install_kernel_spec(tmp, "k6", user=True, replace=True)
    return True


def main(names: list[str]) -> None:
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    rows = []
    for name in names or list(MEASURES):
        if name.startswith("k6") and not register_k6():
            rows.append(summarize("k6", {}, "skipped: no /tmp/k6 venv"))
            continue
        try:
            rows.append(MEASURES[name]())
        except Exception as error:  # one frontend failing must not hide the others' figures
            rows.append(summarize(name, {}, f"failed: {type(error).__name__}: {error}"[:200]))
        print(json.dumps(rows[-1]), flush=True)
    columns = list(rows[0])
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
