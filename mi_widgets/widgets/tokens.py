"""Token view: text coloured token by token by any value (activation, loss, loss difference), value on hover.

Static HTML (escaped), so it renders the same in JupyterLab and in the built book.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import torch


def _colour(value: float, scale: float, diverging: bool) -> str:
    """Background for ``value``: white at 0, orange for positive, blue for negative (diverging)."""
    t = 0.0 if scale <= 0 else max(-1.0, min(1.0, value / scale))
    if t >= 0:
        r, g, b = 255, round(255 - 120 * t), round(255 - 230 * t)
    elif diverging:
        r, g, b = round(255 + 190 * t), round(255 + 100 * t), 255
    else:
        r = g = b = 255
    return f"rgb({r},{g},{b})"


def token_spans(tokens: Sequence[str], values: Sequence[float], scale: float | None = None,
                diverging: bool | None = None, highlight: int | None = None, label: str = "value") -> str:
    """The HTML spans of one coloured token sequence (no wrapper); ``highlight`` underlines one token."""
    values = [float(v) for v in (values.tolist() if isinstance(values, torch.Tensor) else values)]
    if len(tokens) != len(values):
        raise ValueError(f"got {len(tokens)} tokens but {len(values)} values")
    if diverging is None:
        diverging = any(v < 0 for v in values)
    if scale is None:
        scale = max((abs(v) for v in values), default=0.0)
    parts = []
    for i, (tok, value) in enumerate(zip(tokens, values)):
        text = html.escape(tok).replace("\n", "\u21b5")
        border = "border-bottom:2px solid #222;" if i == highlight else ""
        parts.append(f'<span title="{html.escape(label)}: {value:.3g}" style="background:{_colour(value, scale, diverging)};'
                     f'{border}white-space:pre">{text}</span>')
    return "".join(parts)


class TokenView:
    """Tokens coloured by a value; hover a token to read its value.

    ``values`` is one value per token, or a dict of named series (say loss under two models): the static
    view shows every series in turn, `widget` shows one with a dropdown to switch.
    """

    def __init__(self, tokens: Sequence[str], values, label: str = "value", scale: float | None = None):
        self.tokens, self.scale = list(tokens), scale
        self.series = dict(values) if isinstance(values, dict) else {label: values}
        if not self.series:
            raise ValueError("token_view needs at least one series of values")
        # Validates every series early, with the token count in the message.
        self._spans = {name: token_spans(self.tokens, v, scale=scale, label=name) for name, v in self.series.items()}

    def html(self, name: str | None = None) -> str:
        """One series (default: the first) as a self-contained block."""
        name = next(iter(self.series)) if name is None else name
        return (f'<div class="mi-tokens" style="font-family:monospace;line-height:1.8;max-width:60em">'
                f'<div style="font:0.8em sans-serif;color:#555">colour: {html.escape(name)}</div>'
                f'{self._spans[name]}</div>')

    def _repr_html_(self) -> str:
        return "".join(self.html(name) for name in self.series)

    def widget(self):
        """A dropdown of the series and the tokens coloured by the chosen one (needs a running kernel)."""
        import ipywidgets as widgets

        names = list(self.series)
        picker = widgets.Dropdown(options=names, value=names[0], description="colour by")
        out = widgets.HTML(self.html(names[0]))
        picker.observe(lambda change: setattr(out, "value", self.html(change["new"])), names="value")
        return widgets.VBox([picker, out])


def token_view(tokens: Sequence[str], values, label: str = "value", scale: float | None = None) -> TokenView:
    """Show ``tokens`` coloured by ``values`` (one per token, or a dict of named series).

    ``scale`` fixes the value of full colour.
    """
    if len(tokens) == 0:
        raise ValueError("token_view needs at least one token")
    return TokenView(tokens, values, label, scale)
