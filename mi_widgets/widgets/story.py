"""A generated story with its planted capability labels highlighted (static HTML, escaped).

Introduced in ``notebooks/01_models/01_models.ipynb``.
"""

from __future__ import annotations

import html

from mi_widgets.organisms.stories import CAPABILITIES, Story

# One colour per capability (a qualitative palette that stays readable under dark text).
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
           "#d9d9d9", "#bc80bd", "#ccebc5")
COLOURS = dict(zip(CAPABILITIES, PALETTE))


class StoryView:
    """A story as HTML: each labelled span is highlighted in its capability's colour, with a legend."""

    def __init__(self, story: Story, capabilities: tuple[str, ...] = CAPABILITIES):
        self.story, self.capabilities = story, capabilities

    def _repr_html_(self) -> str:
        text, parts, cursor = self.story.text, [], 0
        labels = sorted((l for l in self.story.labels if l.capability in self.capabilities), key=lambda l: l.start)
        for label in labels:
            if label.start < cursor:  # overlapping labels: the first one wins
                continue
            parts.append(html.escape(text[cursor:label.start]))
            parts.append(f'<mark title="{html.escape(label.capability)}" style="background:{COLOURS[label.capability]};'
                         f'padding:0 1px">{html.escape(text[label.start:label.end])}</mark>')
            cursor = label.end
        parts.append(html.escape(text[cursor:]))
        body = "".join(parts).replace("\n", "<br>")
        legend = " ".join(f'<span style="background:{COLOURS[c]};padding:0 4px;margin-right:4px">{c}</span>'
                          for c in self.capabilities)
        return (f'<div class="mi-story" style="font-family:Georgia,serif;line-height:1.6;max-width:52em">'
                f'<div style="font-family:sans-serif;font-size:0.8em;margin-bottom:6px">{legend}</div>{body}</div>')


def story_view(story: Story, capabilities: tuple[str, ...] = CAPABILITIES) -> StoryView:
    """Show ``story`` with the spans of the given capabilities highlighted (hover for the name)."""
    unknown = set(capabilities) - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capabilities {sorted(unknown)}; choose from {CAPABILITIES}")
    return StoryView(story, tuple(capabilities))
