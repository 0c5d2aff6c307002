"""Layer 2, dictionaries: sparse dictionaries (SAEs, transcoders) fit on the organisms' activations.

The dictionary module and its training, quality metrics, the shipped set, synthetic ground truth and the
feature index. May import the base modules and `organisms`; never `analysis`, `widgets` or `book`.
"""
