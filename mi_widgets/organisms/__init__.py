"""Layer 1, organisms: how the bundled model organisms and their data are made and measured.

The story generator (lexicon, templates, stories), tokenizer and corpus, the language-model training loop,
the suite and its model cards, the Hugging Face export and the capability task files. May import the base
modules (`mi_widgets.models`, `activations`, `logprobs`, `heads`, `progress`) and nothing above them.
"""
