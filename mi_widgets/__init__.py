"""mi_widgets: the shared code and widgets behind the Mechanistic Interpretability Workbook.

A notebook teaches, the library does: every notebook imports what it needs from here, and each
module's docstring names the notebook that introduces it. The package is in layers, in the order data
flows, and a module imports only its own layer or lower ones:

- base (the modules at the top): `models` (load and save), `activations` (harvest), `logprobs` (score
  tokens), `heads` (head detectors), `progress`;
- `organisms`: the model organisms and their data are made (stories, tokenizer, training, suite, tasks);
- `dictionaries`: SAEs and transcoders are fit on them;
- `analysis`: the chapters' methods read both;
- `widgets` and `book`: the results are shown, recorded and published.

This module is the public face above them all: the names below are what a notebook uses most.
"""

from mi_widgets.activations import harvest_activations, iter_activations
from mi_widgets.book.records import findings, record, records, untrained_finding
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary
from mi_widgets.dictionaries.on_demand import dictionary_for
from mi_widgets.dictionaries.shipped import bundled_dictionaries, load_dictionary
from mi_widgets.models import ModelLoadError, bundled_models, load_model, save_model, to_nnsight

__all__ = [
    "DictConfig",
    "Dictionary",
    "ModelLoadError",
    "TrainSettings",
    "bundled_dictionaries",
    "bundled_models",
    "dictionary_for",
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
    "untrained_finding",
]
