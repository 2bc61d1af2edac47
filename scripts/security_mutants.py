"""Shows that the adversarial suite can fail: every case in tests/security must turn red
against a deliberately weakened copy of the code.

The weakened copy is this tree with every patch under tests/security/weakened/ applied (each
patch removes one guard: a filter that uses DataFrame.query, paths read with getattr, approval
that always says yes, a project file that is always trusted, redaction after the cut, ...).
The script runs tests/security there and lists each case that still passed: a case that passes
without its guard proves nothing. Exit 0 only when every case failed.

    python scripts/security_mutants.py            # all patches at once (the closing-note run)
    python scripts/security_mutants.py --each     # also one patch at a time
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATCHES = ROOT / "tests" / "security" / "weakened"


def _copy_tree(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files, as they are in the working tree."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _apply(tree: Path, patches: list[Path]) -> None:
    for patch in patches:
        done = subprocess.run(
            ["git", "apply", str(patch)], cwd=tree, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"{patch.name} no longer applies to this tree; remake it:\n{done.stderr}")


def _run_suite(tree: Path) -> dict[str, str]:
    """Each case's outcome (passed / failed / error / skipped) in the weakened tree."""
    report = tree / "security-report.xml"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/security",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--junitxml={report}",
            "-o",
            "addopts=",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if not report.exists():
        sys.exit("the security suite did not run in the weakened tree")
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        tags = {child.tag for child in case}
        outcomes[name] = (
            "failed"
            if "failure" in tags
            else "error"
            if "error" in tags
            else "skipped"
            if "skipped" in tags
            else "passed"
        )
    return outcomes


def weakened_outcomes(patches: list[Path]) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="kimi-weakened-") as folder:
        tree = Path(folder)
        _copy_tree(tree)
        _apply(tree, patches)
        return _run_suite(tree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--each", action="store_true", help="also one patch at a time")
    args = parser.parse_args()
    patches = sorted(PATCHES.glob("*.patch"))
    if not patches:
        print("no patches under tests/security/weakened/")
        return 1
    outcomes = weakened_outcomes(patches)
    survivors = sorted(
        name for name, outcome in outcomes.items() if outcome != "failed" and outcome != "error"
    )
    red = len(outcomes) - len(survivors)
    print(f"weakened setup ({len(patches)} patches): {red} of {len(outcomes)} cases turned red")
    for name in survivors:
        print(f"  still {outcomes[name]}: {name}")
    if args.each:
        for patch in patches:
            alone = weakened_outcomes([patch])
            turned = sum(1 for outcome in alone.values() if outcome in ("failed", "error"))
            print(f"{patch.name}: {turned} of {len(alone)} cases red")
    return 0 if outcomes and not survivors else 1


if __name__ == "__main__":
    raise SystemExit(main())
