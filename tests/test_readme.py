"""The README's package example runs as written, and its shape comments are right."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs_and_its_shapes_are_as_commented():
    text = README.read_text()
    block = re.search(r"### Using the package\n\n```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(block, str(README), "exec"), scope)
    model, prompts, acts, latents, sae = (scope[k] for k in ("model", "prompts", "acts", "latents", "sae"))
    real = sum(len(model.to_tokens(p)[0]) for p in prompts)
    assert acts.shape == (real - len(prompts), model.cfg.d_model)  # [n_real_tokens, d_model]: BOS dropped, no padding
    assert latents.shape == (len(acts), sae.cfg.width)
    assert int((latents != 0).sum(-1).max()) <= sae.cfg.k
