"""Layer 4, widgets: each is a function that returns an object with a static ``_repr_html_`` (works in the book).

Interactive in JupyterLab, static HTML (escaped) on the site. May import every layer below; never `book`.
"""

from mi_widgets.widgets.attention import attention_by_layer, attention_view
from mi_widgets.widgets.dashboard import feature_dashboard
from mi_widgets.widgets.eval_browser import eval_browser
from mi_widgets.widgets.graph_view import graph_view
from mi_widgets.widgets.lens_view import logit_lens_view
from mi_widgets.widgets.patching_view import PatchGrid, patching_view
from mi_widgets.widgets.story import story_view
from mi_widgets.widgets.table_view import SortableTable, sortable_table
from mi_widgets.widgets.tokens import token_view

__all__ = ["PatchGrid", "SortableTable", "attention_by_layer", "attention_view", "eval_browser", "feature_dashboard",
           "graph_view", "logit_lens_view", "patching_view", "sortable_table", "story_view", "token_view"]
