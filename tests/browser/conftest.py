"""Browser-test fixtures: one emulator, one JupyterLab server and one Chromium for the session.

Start-up is most of a browser test's cost (testing-notes.md), so the lab and the browser are
shared; each test gets a fresh page and a fresh emulator queue.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _lab import CHROMIUM, CHROMIUM_ARGS, Lab, running_lab, shut_down_sessions

from kimi_magic.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
EMULATOR_TOKEN = "browser-emulator-token-7f3a"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def lab_emulator() -> Iterator[Emulator]:
    """The emulator the lab's kernels talk to (in this process, scripted directly)."""
    with Emulator(token=EMULATOR_TOKEN) as emu:
        yield emu


@pytest.fixture
def emu(lab_emulator: Emulator) -> Iterator[Emulator]:
    """The lab's emulator, emptied for this test."""
    lab_emulator.reset()
    yield lab_emulator
    errors = list(lab_emulator.server_errors)
    lab_emulator.reset()
    assert not errors, "The emulator raised while serving:\n" + "\n".join(errors)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_emulator: Emulator) -> Iterator[Lab]:
    """A JupyterLab on 127.0.0.1 whose kernels reach the emulator; serves a copy of notebooks/."""
    root = tmp_path_factory.mktemp("lab-root")
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, root / notebook.name)
    for helper in (REPO / "notebooks").glob("*.py"):  # e.g. the MCP server notebook 05 starts
        shutil.copy(helper, root / helper.name)
    env = {
        "KIMI_MAGIC_BASE_URL": lab_emulator.base_url,
        "CLOUDFLARE_ACCOUNT_ID": lab_emulator.account_id,
        "CLOUDFLARE_API_TOKEN": lab_emulator.token,
    }
    with running_lab(root, tmp_path_factory.mktemp("lab-home"), env) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (Playwright's own browser download cannot work)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install chromium` "
            "(.ci/run does this)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, lab: Lab) -> Iterator[Any]:
    """A fresh browser page; afterwards the kernels it started are shut down."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    shut_down_sessions(lab)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
