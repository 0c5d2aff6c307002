"""A Sphinx extension for the API reference: the package's docstrings show examples as indented lines
after a blank line (as TransformerLens and nanoGPT do), which reStructuredText would read as a quote and
run together. This turns each such block into a literal (code) block.

Loaded by ``notebooks/_config.yml`` (``sphinx: local_extensions``).
"""

from __future__ import annotations


def literal_examples(lines: list[str]) -> list[str]:
    """The docstring's lines with every indented block after a blank line made a literal block (``::``)."""
    out: list[str] = []
    for i, line in enumerate(lines):
        starts_block = (line.startswith("    ") and i > 0 and not lines[i - 1].strip()
                        and not (out and out[-2:-1] and out[-2].rstrip().endswith("::")))
        if starts_block:
            out[-1:] = ["::", ""]  # replace the blank line: a literal-block marker, then the blank
        out.append(line)
    return out


def _process(app, what, name, obj, options, lines):
    lines[:] = literal_examples(lines)


def setup(app):
    """Sphinx's entry point: rewrite every docstring autodoc reads."""
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True}
