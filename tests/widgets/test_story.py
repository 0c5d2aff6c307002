"""The story view: labels highlighted, text escaped."""

from __future__ import annotations

import pytest

from mi_widgets.organisms.stories import Label, Story, generate_stories
from mi_widgets.widgets import story_view


def test_every_label_is_highlighted():
    story = next(generate_stories(1, seed=0))
    html = story_view(story)._repr_html_()
    assert html.count("<mark") >= len({l.start for l in story.labels}) * 0.9
    assert 'title="ioi"' in html


def test_story_text_is_escaped():
    text = 'Bo said, "<img src=x onerror=alert(1)>" & left.'
    story = Story(text, (Label(10, 38, "quote_close", {}),))
    html = story_view(story)._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "&amp; left" in html


def test_unknown_capability_is_refused():
    with pytest.raises(ValueError, match="unknown capabilities"):
        story_view(next(generate_stories(1)), ("telepathy",))
