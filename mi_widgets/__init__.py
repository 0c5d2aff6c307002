"""mi_widgets: the shared code and widgets behind the Mechanistic Interpretability Workbook.

A notebook teaches, the library does: every notebook imports what it needs from here, and each
module's docstring names the notebook that introduces it.
"""

from mi_widgets.activations import harvest_activations, iter_activations
from mi_widgets.dictionaries import bundled_dictionaries, load_dictionary
from mi_widgets.models import ModelLoadError, bundled_models, load_model, save_model, to_nnsight
from mi_widgets.record import findings, record, records
from mi_widgets.sae import DictConfig, Dictionary, TrainSettings, train_dictionary

__all__ = [
    "DictConfig",
    "Dictionary",
    "ModelLoadError",
    "TrainSettings",
    "bundled_dictionaries",
    "bundled_models",
    "findings",
    "harvest_activations",
    "iter_activations",
    "load_dictionary",
    "load_model",
    "record",
    "records",
    "save_model",
    "to_nnsight",
    "train_dictionary",
]
