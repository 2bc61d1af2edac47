"""Configuration: one resolution order (flag > panel / %config > pyproject.toml or user config
file > environment > default), each effective value with its source, and `%kimi config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kimi_magic import ConfigurationError
from kimi_magic.core.settings import DEFAULT, FLAG, SESSION, nearest_pyproject, resolve
from kimi_magic.emulator import Emulator

LAYERS = ("flag", "session", "pyproject", "user", "env")

# Which layers set temperature (to 0.1 .. 0.5 in the order above) -> the winning layer.
ORDER_CASES: list[tuple[tuple[str, ...], str]] = [
    (("flag", "session", "pyproject", "user", "env"), "flag"),
    (("session", "pyproject", "user", "env"), "session"),
    (("pyproject", "user", "env"), "pyproject"),
    (("user", "env"), "user"),
    (("env",), "env"),
    ((), "default"),
    (("flag", "env"), "flag"),
    (("session", "env"), "session"),
    (("pyproject", "env"), "pyproject"),
    (("session", "user"), "session"),
    (("flag", "pyproject"), "flag"),
    (("pyproject", "user"), "pyproject"),
]
VALUES = dict(zip(LAYERS, (0.1, 0.2, 0.3, 0.4, 0.5), strict=True))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("present", "winner"), ORDER_CASES, ids=["+".join(c[0]) or "none" for c in ORDER_CASES]
)
def test_resolution_order(tmp_path: Path, present: tuple[str, ...], winner: str) -> None:
    project = tmp_path / "project"
    work = project / "notebooks" / "deep"
    work.mkdir(parents=True)
    user = tmp_path / "user.toml"
    if "pyproject" in present:
        _write(
            project / "pyproject.toml",
            f"[project]\nname = 'x'\n\n[tool.kimi_magic]\ntemperature = {VALUES['pyproject']}\n",
        )
    if "user" in present:
        _write(user, f"temperature = {VALUES['user']}\n")
    environ = {"KIMI_MAGIC_TEMPERATURE": str(VALUES["env"])} if "env" in present else {}
    resolved = resolve(
        {"temperature": VALUES["flag"]} if "flag" in present else {},
        {"temperature": VALUES["session"]} if "session" in present else {"temperature": None},
        cwd=work,
        environ=environ,
        user_config=user,
    )
    expected_value = None if winner == "default" else VALUES[winner]
    assert resolved["temperature"] == expected_value
    expected_source = {
        "flag": FLAG,
        "session": SESSION,
        "default": DEFAULT,
        "env": "environment (KIMI_MAGIC_TEMPERATURE)",
        "pyproject": f"{project / 'pyproject.toml'} [tool.kimi_magic]",
        "user": str(user),
    }[winner]
    assert resolved.source("temperature") == expected_source


def test_each_setting_keeps_its_own_source(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.kimi_magic]\nseed = 7\nstop = ['END']\n")
    user = _write(tmp_path / "u" / "config.toml", "[kimi_magic]\ntop_p = 0.9\nseed = 1\n")
    resolved = resolve(
        {"n": 2},
        {"temperature": 0.3},
        cwd=tmp_path,
        environ={
            "KIMI_MAGIC_MAX_COST": "0.5",
            "KIMI_MAGIC_LOGPROBS": "true",
            "KIMI_MAGIC_STOP": '["a", "b"]',
        },
        user_config=user,
    )
    assert resolved.request_parameters() == {
        "n": 2,
        "temperature": 0.3,
        "seed": 7,
        "stop": ["END"],
        "top_p": 0.9,
        "logprobs": True,
        "stream": True,
    }
    assert resolved["max_cost"] == 0.5 and resolved.source("max_cost").startswith("environment")
    assert resolved.source("seed").endswith("[tool.kimi_magic]")  # the project file wins
    assert resolved.source("top_p") == str(user)
    assert resolved.source("stream") == DEFAULT and resolved["model"] == "@cf/moonshotai/kimi-k2.6"


def test_nearest_pyproject_walks_up(tmp_path: Path) -> None:
    outer = _write(tmp_path / "pyproject.toml", "")
    inner = _write(tmp_path / "a" / "pyproject.toml", "")
    (tmp_path / "a" / "b").mkdir()
    assert nearest_pyproject(tmp_path / "a" / "b") == inner
    assert nearest_pyproject(tmp_path) == outer


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("KIMI_MAGIC_TEMPERATURE", "warm", "temperature must be a number from 0 to 2"),
        ("KIMI_MAGIC_CACHE", "perhaps", "cache"),
        ("KIMI_MAGIC_N", "2.5", "n must be a whole number"),
    ],
)
def test_a_bad_environment_value_names_the_variable(variable: str, value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve(environ={variable: value}, user_config=Path("/nonexistent"))
    assert words in str(caught.value)


def test_unknown_keys_in_a_file_are_noted_not_fatal(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.kimi_magic]\ntemprature = 0.2\n")
    resolved = resolve(cwd=tmp_path, environ={}, user_config=tmp_path / "none.toml")
    assert any("unknown setting 'temprature'" in note for note in resolved.notes)
    assert resolved["temperature"] is None


def test_the_order_reaches_the_request(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File < %config < flag, end to end through the magic."""
    _write(tmp_path / "pyproject.toml", "[tool.kimi_magic]\ntemperature = 0.3\ntop_p = 0.7\n")
    monkeypatch.setenv("KIMI_MAGIC_TEMPERATURE", "0.9")
    monkeypatch.setenv("KIMI_MAGIC_SEED", "11")
    controls_shell.run_cell("%kimi one")
    body = emulator.requests[-1]["json"]
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.3, 0.7, 11)
    controls_shell.run_line_magic("config", "KimiMagics.temperature = 0.5")
    controls_shell.run_cell("%kimi two")
    assert emulator.requests[-1]["json"]["temperature"] == 0.5
    controls_shell.run_cell("%kimi -t 1.1 three")
    assert emulator.requests[-1]["json"]["temperature"] == 1.1
    controls_shell.run_cell("%kimi four")  # the flag was for that call only
    assert emulator.requests[-1]["json"]["temperature"] == 0.5


def test_kimi_config_shows_values_sources_and_no_token(
    controls_shell: Any,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.kimi_magic]\ntop_p = 0.7\n")
    monkeypatch.setenv("KIMI_MAGIC_SEED", "11")
    controls_shell.run_line_magic("config", "KimiMagics.temperature = 0.5")
    controls_shell.run_line_magic("config", 'KimiMagics.system = "Don\'t use | pipes"')
    controls_shell.run_cell("%kimi config")
    out = capsys.readouterr().out
    assert "| temperature | `0.5` | panel / %config |" in out
    assert "| system | `Don't use \\| pipes` | panel / %config |" in out  # as typed, cell-safe
    assert f"| top_p | `0.7` | {tmp_path / 'pyproject.toml'} [tool.kimi_magic] |" in out
    assert "| seed | `11` | environment (KIMI_MAGIC_SEED) |" in out
    assert "| stream | `True` | default |" in out
    assert "API token: set ([redacted]), from $CLOUDFLARE_API_TOKEN" in out
    assert emulator.token not in out
    assert "flag > panel / %config" in out


def test_settings_from_a_user_config_file(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    _write(
        tmp_path / "config" / "kimi_magic" / "config.toml",
        "system = 'Answer in French.'\nreasoning_effort = 'low'\n",
    )
    controls_shell.run_cell("%kimi bonjour")
    body = emulator.requests[-1]["json"]
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert body["reasoning_effort"] == "low"


def test_every_setting_is_classified_for_untrusted_project_files() -> None:
    """A new setting must be put in core/trust.py's tables on purpose (it defaults to needing
    trust, which is safe, but the table should say why)."""
    from kimi_magic.core.settings import NAMES, TABLES
    from kimi_magic.core.trust import RESTRICTED, SAFE, VALUE_CHECKED

    classified = SAFE | set(VALUE_CHECKED) | set(RESTRICTED)
    assert set(NAMES) | TABLES <= classified
    assert not SAFE & (set(VALUE_CHECKED) | set(RESTRICTED))


@pytest.mark.parametrize(
    ("line", "applies"),
    [
        ("temperature = 0.2", True),
        ('approve = "deny"', True),
        ('approve = "auto"', False),
        ('default_tools = "notebook"', True),
        ('default_tools = "notebook,python"', False),
        ('default_tools = "all"', False),
        ("redact_secret_names = true", True),
        ("redact_secret_names = false", False),
        ('record = "answers.jsonl"', True),
        ('record = "../answers.jsonl"', False),
        ('record = "~/answers.jsonl"', False),
        ('model = "@cf/meta/llama-3.1-8b-instruct"', True),
        ('model = "@cf/a/b/../../../x"', False),
        ('api = "openai"', False),
        ("max_cost = 100.0", False),
        ("store = true", False),
        ("cache = true", False),
    ],
)
def test_what_an_untrusted_project_file_may_set(tmp_path: Path, line: str, applies: bool) -> None:
    project = _write(tmp_path / "p" / "pyproject.toml", f"[tool.kimi_magic]\n{line}\n")
    resolved = resolve(cwd=project.parent, environ={}, user_config=tmp_path / "u.toml")
    name = line.split(" = ")[0]
    assert (resolved.source(name) != DEFAULT) is applies
    assert (name in resolved.ignored) is not applies
