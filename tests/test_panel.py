"""The settings panel, headless: each control changes the next request the emulator receives,
the panel and `%config KimiMagics` stay in sync both ways, usage updates after each answer,
and the panel opens once (right side area via sidecar, inline where that cannot show)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kimi_magic.emulator import Emulator
from kimi_magic.magic.panel import SEED_FIXED, SEED_NONE, SEED_RANDOM, Panel, open_panel


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


@pytest.fixture
def panel(controls_shell: Any) -> Panel:
    controls_shell.run_cell("%kimi panel inline")
    view = magics(controls_shell).panel_view
    assert view is not None
    return view


def body_after(shell: Any, emulator: Emulator) -> dict[str, Any]:
    result = shell.run_cell("%kimi hello")
    assert result.error_in_exec is None, result.error_in_exec
    body: dict[str, Any] = emulator.requests[-1]["json"]
    return body


# (what to do to the panel, what the next request body must then carry)
MOVES: list[tuple[str, Callable[[Panel], None], Callable[[dict[str, Any]], bool]]] = [
    (
        "temperature",
        lambda p: setattr(p.controls["temperature"], "value", 0.35),
        lambda b: b.get("temperature") == 0.35,
    ),
    (
        "top_p",
        lambda p: setattr(p.controls["top_p"], "value", 0.6),
        lambda b: b.get("top_p") == 0.6,
    ),
    (
        "frequency_penalty",
        lambda p: setattr(p.controls["frequency_penalty"], "value", -1.0),
        lambda b: b.get("frequency_penalty") == -1.0,
    ),
    (
        "presence_penalty",
        lambda p: setattr(p.controls["presence_penalty"], "value", 1.5),
        lambda b: b.get("presence_penalty") == 1.5,
    ),
    (
        "reasoning effort",
        lambda p: setattr(p.controls["reasoning_effort"], "value", "high"),
        lambda b: b.get("reasoning_effort") == "high" and "chat_template_kwargs" not in b,
    ),
    (
        "reasoning effort off",
        lambda p: setattr(p.controls["reasoning_effort"], "value", "off"),
        lambda b: (
            "reasoning_effort" not in b
            and b.get("chat_template_kwargs") == {"thinking": False, "enable_thinking": False}
        ),
    ),
    (
        "thinking off",
        lambda p: setattr(p.controls["thinking"], "value", False),
        lambda b: b.get("chat_template_kwargs") == {"thinking": False, "enable_thinking": False},
    ),
    (
        "thinking on",
        lambda p: setattr(p.controls["thinking"], "value", True),
        lambda b: b.get("chat_template_kwargs") == {"thinking": True, "enable_thinking": True},
    ),
    (
        "fixed seed",
        lambda p: (
            setattr(p.controls["seed"], "value", "1234"),
            setattr(p.controls["seed_choice"], "value", SEED_FIXED),
        ),
        lambda b: b.get("seed") == 1234,
    ),
    (
        "max tokens",
        lambda p: setattr(p.controls["max_completion_tokens"], "value", "777"),
        lambda b: b.get("max_completion_tokens") == 777,
    ),
    (
        "system prompt",
        lambda p: setattr(p.controls["system"], "value", "Be brief."),
        lambda b: b["messages"][0] == {"role": "system", "content": "Be brief."},
    ),
    (
        "streaming off",
        lambda p: setattr(p.controls["stream"], "value", False),
        lambda b: b["stream"] is False,
    ),
]


@pytest.mark.parametrize(("label", "move", "check"), MOVES, ids=[m[0] for m in MOVES])
def test_moving_a_control_changes_the_next_request(
    controls_shell: Any,
    emulator: Emulator,
    panel: Panel,
    validate_request: Any,
    label: str,
    move: Callable[[Panel], None],
    check: Callable[[dict[str, Any]], bool],
) -> None:
    before = body_after(controls_shell, emulator)
    assert not check(before), "the default request already looks moved"
    move(panel)
    after = body_after(controls_shell, emulator)
    assert check(after), after
    validate_request(after)


def test_model_id_control_changes_the_request_path(
    controls_shell: Any, emulator: Emulator, panel: Panel
) -> None:
    panel.controls["model"].value = "@cf/moonshotai/kimi-k2.6-preview"
    controls_shell.run_cell("%kimi hello")
    assert emulator.requests[-1]["path"].endswith("/ai/run/@cf/moonshotai/kimi-k2.6-preview")
    assert magics(controls_shell).model == "@cf/moonshotai/kimi-k2.6-preview"


def test_random_seed_per_call(controls_shell: Any, emulator: Emulator, panel: Panel) -> None:
    panel.controls["seed_choice"].value = SEED_RANDOM
    seeds = {body_after(controls_shell, emulator)["seed"] for _ in range(3)}
    assert len(seeds) == 3
    assert magics(controls_shell).seed_mode == "random"
    controls_shell.run_cell("%kimi --seed 5 pinned")  # a flag still wins for its call
    assert emulator.requests[-1]["json"]["seed"] == 5
    panel.controls["seed_choice"].value = SEED_NONE
    assert "seed" not in body_after(controls_shell, emulator)


def test_config_moves_the_panel(controls_shell: Any, panel: Panel) -> None:
    controls_shell.run_line_magic("config", "KimiMagics.temperature = 1.25")
    controls_shell.run_line_magic("config", "KimiMagics.reasoning_effort = 'medium'")
    controls_shell.run_line_magic("config", "KimiMagics.seed = 99")
    controls_shell.run_line_magic("config", "KimiMagics.max_completion_tokens = 2048")
    controls_shell.run_line_magic("config", "KimiMagics.system = 'Use SI units.'")
    controls_shell.run_line_magic("config", "KimiMagics.stream = False")
    c = panel.controls
    assert c["temperature"].value == 1.25
    assert c["reasoning_effort"].value == "medium"
    assert (c["seed_choice"].value, c["seed"].value) == (SEED_FIXED, "99")
    assert c["max_completion_tokens"].value == "2048"
    assert c["system"].value == "Use SI units."
    assert c["stream"].value is False
    controls_shell.run_line_magic("config", "KimiMagics.thinking = False")
    assert c["reasoning_effort"].value == "off" and c["thinking"].value is False


def test_the_panel_moves_config(controls_shell: Any, panel: Panel) -> None:
    panel.controls["top_p"].value = 0.42
    panel.controls["presence_penalty"].value = -0.5
    assert controls_shell.run_line_magic("config", "KimiMagics.top_p") == 0.42
    assert controls_shell.run_line_magic("config", "KimiMagics.presence_penalty") == -0.5
    panel.controls["reasoning_effort"].value = "off"
    m = magics(controls_shell)
    assert (m.reasoning_effort, m.thinking) == (None, False)
    panel.controls["reasoning_effort"].value = "low"
    assert (m.reasoning_effort, m.thinking) == ("low", None)


def test_unset_settings_show_their_effective_value_without_becoming_set(
    controls_shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_TEMPERATURE", "0.8")
    view = open_panel(magics(controls_shell), "inline")
    assert view.controls["temperature"].value == 0.8  # from the environment
    assert view.controls["top_p"].value == 1.0  # the model's documented default
    assert view.controls["thinking"].label == "model default"  # selected, not blank
    assert view.controls["reasoning_effort"].label == "model default"
    assert magics(controls_shell).temperature is None  # still unset: the env keeps applying
    view.controls["temperature"].value = 0.2
    view.reset()
    assert magics(controls_shell).temperature is None
    assert view.controls["temperature"].value == 0.8


def test_a_flag_overrides_the_panel_for_one_call(
    controls_shell: Any, emulator: Emulator, panel: Panel
) -> None:
    panel.controls["temperature"].value = 0.4
    controls_shell.run_cell("%kimi -t 1.9 hot")
    assert emulator.requests[-1]["json"]["temperature"] == 1.9
    assert panel.controls["temperature"].value == 0.4
    assert body_after(controls_shell, emulator)["temperature"] == 0.4


def test_usage_and_latency_update_after_each_answer(
    controls_shell: Any, emulator: Emulator, panel: Panel
) -> None:
    assert "calls: 0" in panel.usage.value and "none yet" in panel.usage.value
    emulator.script(
        {
            "content": "One.",
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 400},
            },
        },
        {
            "content": "Two.",
            "usage": {
                "prompt_tokens": 2000,
                "completion_tokens": 30,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        },
    )
    controls_shell.run_cell("%kimi first")
    assert "calls: 1" in panel.usage.value and "tokens in: 1,000 (cached 400)" in panel.usage.value
    controls_shell.run_cell("%kimi second")
    value = panel.usage.value
    assert "calls: 2" in value and "tokens in: 3,000 (cached 400)" in value
    assert "tokens out: 40" in value
    cost = (600 * 0.95 + 400 * 0.16 + 2000 * 0.95 + 40 * 4.0) / 1e6
    assert f"cost: ${cost:.4f}" in value
    assert "s to the first token" in value


def test_opens_once_in_the_side_area_and_refocuses(controls_shell: Any) -> None:
    pytest.importorskip("sidecar")
    m = magics(controls_shell)
    first = open_panel(m, "side")
    side = first._sidecar
    assert side is not None and side.anchor == "right" and side.title == "Kimi K2.6"
    second = open_panel(m, "side")
    assert second is first  # one panel: the same widgets, the same bindings
    assert first._sidecar is not side and side.comm is None  # the old tab closed, a new one shown
    assert first._sidecar.anchor == "right"


def test_inline_where_the_side_area_cannot_show(
    controls_shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kimi_magic.magic.panel import side_area_available

    monkeypatch.setenv("VSCODE_PID", "1")
    assert side_area_available() is False
    view = open_panel(magics(controls_shell), "auto")
    assert view._sidecar is None


def test_kimi_magic_panel_function(controls_shell: Any) -> None:
    import kimi_magic

    view = kimi_magic.panel(where="inline")
    assert view is magics(controls_shell).panel_view


def test_the_context_gauge_fills_and_warns(
    controls_shell: Any, emulator: Emulator, panel: Panel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "context 0 / 245,760 tokens (0%)" in panel.usage.value
    assert panel._gauge_bar.value == 0
    emulator.script({"content": "A short answer."}, {"content": "y" * 4_000})
    controls_shell.run_cell("%kimi " + "x" * 4_000)
    first = panel._gauge_bar.value
    assert 0 < first < 0.8 and "context 1," in panel.usage.value  # about 1,000 tokens so far
    assert "context 1," in capsys.readouterr().out  # the answer's footer says it too
    # A small window: the same conversation now nearly fills it, and both views warn.
    controls_shell.run_line_magic("config", "KimiMagics.context_window = 3000")
    controls_shell.run_line_magic("config", "KimiMagics.max_completion_tokens = 1000")
    controls_shell.run_cell("%kimi and more")
    out = capsys.readouterr().out
    assert panel._gauge_bar.value > first and panel._gauge_bar.bar_style == "danger"
    assert "oldest turns" in panel.usage.value and "⚠" in out and "oldest turns" in out
