"""One version number: pyproject, the package and the CHANGELOG's newest entry agree."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

import kimi_magic

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_package_and_changelog_carry_one_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    newest = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert newest is not None, "CHANGELOG.md has no '## VERSION' entry"
    assert declared["project"]["version"] == kimi_magic.__version__ == newest.group(1)
