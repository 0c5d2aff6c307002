"""Widgets: each is a function that returns an object with a static ``_repr_html_`` (works in the book)."""

from mi_widgets.widgets.attention import attention_view
from mi_widgets.widgets.story import story_view

__all__ = ["attention_view", "story_view"]
