"""Layer 3, analysis: the chapters' methods, reading models and dictionaries.

Scoring of capability tasks and discovery, geometry, feature splitting, the logit lens and token-class
enrichment; patching, attribution and toy-model analyses belong here too. May import the base modules,
`organisms` and `dictionaries`; never `widgets` or `book`.
"""
