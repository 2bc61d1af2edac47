"""`%kimi panel` / `kimi_magic.panel()`: the settings sidebar.

The widgets and the `KimiMagics` traits are two views of the same settings: moving a control
sets the trait (so `%config KimiMagics.x` reads it back), and setting a trait moves the control.
A trait left unset (None) shows its effective value from a config file, the environment or the
model's default, without becoming set. ipywidgets is imported only when the panel is opened.
"""

from __future__ import annotations

import html
import os
import sys
from typing import TYPE_CHECKING, Any

from ..core.constants import CONTEXT_WINDOW_TOKENS
from ..core.errors import ConfigurationError
from ..core.parameters import PARAMETERS
from ..core.tokens import ContextGauge
from ..render.frontend import in_kernel, show_markdown
from ..session.events import SessionEvent, SettingsChanged

if TYPE_CHECKING:
    from ..session.session import Session

TITLE = "Kimi K2.6"
# The traits the panel shows; a change to any of them refreshes the controls.
BOUND = (
    "temperature",
    "top_p",
    "reasoning_effort",
    "thinking",
    "seed",
    "seed_mode",
    "max_completion_tokens",
    "frequency_penalty",
    "presence_penalty",
    "system",
    "model",
    "stream",
)
SLIDERS: dict[str, tuple[float, float, float, str]] = {  # name: (min, max, step, label)
    "temperature": (0.0, 2.0, 0.05, "temperature"),
    "top_p": (0.0, 1.0, 0.01, "top p"),
    "frequency_penalty": (-2.0, 2.0, 0.05, "freq. penalty"),
    "presence_penalty": (-2.0, 2.0, 0.05, "pres. penalty"),
}
PANEL_CLASS = "kimi-magic-panel"
# The side area is narrow: a compact readout leaves the sliders a track that can be dragged.
PANEL_CSS = (
    f"<style>.{PANEL_CLASS} .widget-readout {{width: 3em; min-width: 3em;}} "
    f".{PANEL_CLASS} .widget-hslider {{width: 100%;}}</style>"
)
# A dropdown's "model default" entry: a widget value of None would mean "nothing selected".
UNSET = "(unset)"
SEED_NONE, SEED_FIXED, SEED_RANDOM = "none", "fixed", "random per call"
NO_WIDGETS = (
    "The panel needs a notebook frontend that shows widgets. Here, change settings with "
    "`%config KimiMagics.<name> = value` (e.g. `%config KimiMagics.temperature = 0.2`) and "
    "see them with `%kimi config`."
)


def side_area_available() -> bool:
    """Whether the panel can open in JupyterLab's right side area (the `sidecar` package).

    VS Code, Colab and voila do not show sidecar widgets, so the panel goes inline there.
    """
    if "google.colab" in sys.modules or "voila" in sys.modules:
        return False
    if os.environ.get("SERVER_SOFTWARE", "").startswith("voila"):  # set in voila's kernels
        return False
    if any(name.startswith("VSCODE_") for name in os.environ):
        return False
    try:
        import sidecar  # noqa: F401
    except ImportError:
        return False
    return True


# The side area is narrow: short labels leave the sliders a usable track.
_WIDE = {"width": "98%"}
_STYLE = {"description_width": "8em"}


def _controls(w: Any) -> dict[str, Any]:
    """One control per bound setting (the seed as a choice and a value)."""
    wide = w.Layout(**_WIDE)
    common = {"layout": wide, "style": _STYLE}
    controls: dict[str, Any] = {
        name: w.FloatSlider(
            min=low,
            max=high,
            step=step,
            description=label,
            description_allow_html=False,
            tooltip=PARAMETERS[name].help,
            continuous_update=False,
            **common,
        )
        for name, (low, high, step, label) in SLIDERS.items()
    }
    effort = [("model default", UNSET), ("low", "low"), ("medium", "medium"), ("high", "high")]
    controls["reasoning_effort"] = w.Dropdown(
        options=[*effort, ("off (no thinking)", "off")], description="reasoning", **common
    )
    controls["thinking"] = w.Dropdown(
        options=[("model default", UNSET), ("on", True), ("off", False)],
        description="thinking",
        **common,
    )
    controls["seed_choice"] = w.Dropdown(
        options=[SEED_NONE, SEED_FIXED, SEED_RANDOM], description="seed", **common
    )
    # Numbers that may be unset are text: blank with a hint, never a misleading 0.
    controls["seed"] = w.Text(
        description="seed value", placeholder="none", continuous_update=False, **common
    )
    controls["max_completion_tokens"] = w.Text(
        description="max tokens",
        placeholder="model default",
        tooltip=f"max_completion_tokens, 1 to {CONTEXT_WINDOW_TOKENS:,}; blank: model default",
        continuous_update=False,
        **common,
    )
    controls["system"] = w.Textarea(description="system", continuous_update=False, **common)
    controls["model"] = w.Text(description="model id", continuous_update=False, **common)
    controls["stream"] = w.Checkbox(description="stream", indent=True, style=_STYLE)
    return controls


class Panel:
    """The controls, bound both ways to the magics' traits, plus live usage."""

    def __init__(self, session: Session) -> None:
        import ipywidgets as w

        self.session = session
        self._syncing = False
        self.controls = _controls(w)
        self.reset_button = w.Button(description="reset to defaults", icon="undo")
        self.reset_button.on_click(lambda _: self.reset())
        self.usage = w.HTML()
        # The context window of the conversation last answered, as a bar (the text is above it).
        self._gauge_bar = w.FloatProgress(
            min=0.0, max=1.0, description="context", layout=w.Layout(**_WIDE), style=_STYLE
        )
        self.root = w.VBox(
            [
                w.HTML(f"<b>{TITLE}</b>{PANEL_CSS}"),
                *self.controls.values(),
                self.reset_button,
                self.usage,
                self._gauge_bar,
            ],
            layout=w.Layout(padding="0 6px"),
        )
        self.root.add_class(PANEL_CLASS)
        self._sidecar: Any = None
        self.pull()
        self.refresh_usage()
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._push(name), names="value")
        self.unsubscribe = session.subscribe(self._on_session)

    def _on_session(self, event: SessionEvent) -> None:
        if isinstance(event, SettingsChanged):
            self.pull()
        else:
            self.refresh_usage(event.turn.gauge)

    # -- traits -> widgets --------------------------------------------------------------------

    def pull(self) -> None:
        """Show the effective settings; an unset trait shows its file / env / model default."""
        resolved = self.session.settings()

        def shown(name: str) -> Any:
            value = resolved[name]
            return PARAMETERS[name].server_default if value is None else value

        self._syncing = True
        try:
            c = self.controls
            for name in SLIDERS:
                c[name].value = shown(name)
            thinking = resolved["thinking"]
            effort = "off" if thinking is False else resolved["reasoning_effort"]
            c["reasoning_effort"].value = UNSET if effort is None else effort
            c["thinking"].value = UNSET if thinking is None else thinking
            if resolved["seed_mode"] == "random":
                c["seed_choice"].value = SEED_RANDOM
            else:
                c["seed_choice"].value = SEED_NONE if resolved["seed"] is None else SEED_FIXED
            if resolved["seed"] is not None:  # unset: keep what was typed for "fixed"
                c["seed"].value = str(resolved["seed"])
            c["seed"].disabled = c["seed_choice"].value != SEED_FIXED
            tokens = resolved["max_completion_tokens"]
            c["max_completion_tokens"].value = "" if tokens is None else str(tokens)
            c["system"].value = resolved["system"] or ""
            c["model"].value = resolved["model"] or ""
            c["stream"].value = bool(resolved["stream"])
        finally:
            self._syncing = False

    # -- widgets -> traits --------------------------------------------------------------------

    def _push(self, name: str) -> None:
        if self._syncing:
            return
        self.session.configure(**self._settings_of(name, self.controls[name].value))
        self.pull()

    def _settings_of(self, name: str, value: Any) -> dict[str, Any]:
        """The settings one control's new value sets."""
        value = None if value == UNSET else value
        if name == "reasoning_effort":
            if value == "off":
                return {"reasoning_effort": None, "thinking": False}
            thinking = self.session.overrides.get("thinking")
            return {"reasoning_effort": value, "thinking": None if thinking is False else thinking}
        if name == "seed_choice":
            seed = _whole_number(self.controls["seed"].value) if value == SEED_FIXED else None
            return {"seed_mode": "random" if value == SEED_RANDOM else "fixed", "seed": seed}
        if name == "seed":
            fixed = self.controls["seed_choice"].value == SEED_FIXED
            return {"seed": _whole_number(value)} if fixed else {}
        if name == "max_completion_tokens":
            return {name: _whole_number(value)}
        if name in ("system", "model"):
            return {name: value or None}  # empty: the file / env / default applies again
        return {name: value}

    def reset(self) -> None:
        """Unset every bound setting, so config files, the environment and defaults apply."""
        self.session.configure(**dict.fromkeys(BOUND))

    # -- usage --------------------------------------------------------------------------------

    def refresh_usage(self, gauge: ContextGauge | None = None) -> None:
        ledger = self.session.ledger
        total = ledger.total
        u = total.usage
        latency = "none yet"
        if ledger.last_latency is not None:
            latency = (
                f"{ledger.last_latency:.2f} s to the first token, "
                f"{ledger.last_seconds or 0:.1f} s in all"
            )
        self.usage.value = (
            '<div style="line-height:1.35;font-size:90%"><b>Session usage</b><br>'
            f"calls: {total.calls:,}<br>"
            f"tokens in: {u.prompt_tokens:,} (cached {u.cached_tokens:,})<br>"
            f"tokens out: {u.completion_tokens:,}<br>"
            f"cost: ${total.cost:.4f}<br>"
            f"last call: {latency}<br>"
            f"{self._gauge_html(gauge)}</div>"
        )

    def _gauge_html(self, gauge: ContextGauge | None) -> str:
        """The context-window gauge of the conversation last answered (default at first)."""
        gauge = gauge or self.session.gauge(self.session.conversation())
        self._gauge_bar.value = min(gauge.share, 1.0)
        self._gauge_bar.bar_style = "danger" if gauge.warning else ""
        warning = (
            f"<br><span style='color:#b00'>{html.escape(gauge.warning)}</span>"
            if gauge.warning
            else ""
        )
        return f"{html.escape(gauge.text)}{warning}"

    # -- showing ------------------------------------------------------------------------------

    def show(self, where: str = "auto") -> str:
        """Open in the right side area (once; again: re-focus) or inline. Returns where."""
        from IPython.display import display

        if where == "auto" and not in_kernel():  # a terminal: a VBox(...) repr helps nobody
            show_markdown(NO_WIDGETS)
            return "text"
        side = where == "side" or (where == "auto" and side_area_available())
        if not side:
            display(self.root)
            return "inline"
        from sidecar import Sidecar

        if self._sidecar is not None:
            # sidecar has no focus call: closing and reopening the same panel brings it forward.
            self._sidecar.close()
        self._sidecar = Sidecar(title=TITLE, anchor="right")
        with self._sidecar:
            display(self.root)
        return "side"


def _whole_number(text: str) -> int | None:
    """A typed whole number; blank or not a number is unset (the next pull shows what holds)."""
    try:
        return int(str(text).strip().replace(",", "").replace("_", ""))
    except ValueError:
        return None


def open_panel(host: Any, where: str = "auto") -> Panel:
    """The session's one panel, created on first use and shown (`where`: auto, side, inline)."""
    if host.panel_view is None:
        host.panel_view = Panel(host.session)
    host.panel_view.show(where)
    return host.panel_view


def panel_command(host: Any, rest: str) -> None:
    """`%kimi panel [side|inline]`."""
    where = rest.strip() or "auto"
    if where not in ("auto", "side", "inline"):
        raise ConfigurationError(f"%kimi panel takes 'side' or 'inline', not {where!r}.")
    open_panel(host, where)
