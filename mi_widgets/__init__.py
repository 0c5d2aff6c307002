"""mi_widgets: the shared code and widgets behind the Mechanistic Interpretability Workbook.

A notebook teaches, the library does: every notebook imports what it needs from here, and each
module's docstring names the notebook that introduces it.
"""

from mi_widgets.models import ModelLoadError, bundled_models, load_model, save_model, to_nnsight
from mi_widgets.record import findings, record, records

__all__ = [
    "ModelLoadError",
    "bundled_models",
    "findings",
    "load_model",
    "record",
    "records",
    "save_model",
    "to_nnsight",
]
