"""The static figures draw what they are given and refuse shapes that do not fit."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mi_widgets.widgets.figures import (  # noqa: E402
    attention_heatmap,
    attribution_bars,
    head_heatmap,
    residual_stream_diagram,
)


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts + ax.get_xticklabels() + ax.get_yticklabels()]


@pytest.mark.parametrize("n_layers, attn_only, boxes", [(2, False, 4), (1, True, 1), (3, True, 3)])
def test_the_diagram_has_one_box_per_component_and_the_cache_names(n_layers, attn_only, boxes):
    texts = _texts(residual_stream_diagram(n_layers, attn_only))
    assert sum("attention heads" in t or t.endswith(" MLP") for t in texts) == boxes
    last = n_layers - 1
    assert f"blocks.{last}.hook_resid_post" in texts and "hook_embed + hook_pos_embed" in texts
    assert any("blocks.0.hook_mlp_out" == t for t in texts) != attn_only
    plt.close("all")


def test_the_diagram_needs_a_layer():
    with pytest.raises(ValueError, match="at least 1"):
        residual_stream_diagram(0)


def test_heatmaps_label_tokens_and_heads():
    fig = attention_heatmap(torch.eye(3), ["<bos>", " a", "\n"], "L0H0")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["<bos>", " a", "\\n"]
    with pytest.raises(ValueError, match="pos = 2 tokens"):
        attention_heatmap(torch.eye(3), ["a", "b"])
    fig = head_heatmap(torch.tensor([[0.1, 0.9], [0.5, 0.2]]), "score")
    assert "0.90" in _texts(fig) and "L1" in _texts(fig) and "H1" in _texts(fig)
    with pytest.raises(ValueError, match=r"\[layer, head\]"):
        head_heatmap(torch.ones(3), "score")
    plt.close("all")


def test_attribution_bars_need_one_value_per_name():
    fig = attribution_bars(["embed", "L0H0", "L0 MLP"], [0.5, -1.0, 2.0], "dla")
    assert len(fig.axes[0].patches) == 3
    with pytest.raises(ValueError, match="one value per name"):
        attribution_bars(["embed"], [1.0, 2.0], "dla")
    plt.close("all")
