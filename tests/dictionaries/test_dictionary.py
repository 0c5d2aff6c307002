"""dictionaries.dictionary: the sparse TopK backward equals dense autograd, files round-trip, and bad input
gets clear errors."""

import json

import pytest
import torch

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary


def _dense_topk_forward(sae: Dictionary, x: torch.Tensor) -> torch.Tensor:
    """The textbook TopK SAE, all dense: the reference the fast path must match."""
    pre = ((x * sae.scale_in) - sae.b_dec) @ sae.W_enc.T + sae.b_enc
    vals, idx = pre.topk(sae.cfg.k, dim=1)
    f = torch.zeros_like(pre).scatter(1, idx, vals.relu())
    return (f @ sae.W_dec + sae.b_dec) / sae.scale_out


@pytest.mark.parametrize("transcoder", [False, True])
def test_sparse_gradients_equal_dense_autograd(transcoder):
    torch.manual_seed(0)
    cfg = DictConfig(d_in=16, width=64, k=5, d_out=12 if transcoder else None, skip=transcoder)
    sae = Dictionary(cfg, seed=1)
    with torch.no_grad():
        sae.b_enc.normal_()
        sae.b_dec.normal_()
        if sae.W_skip is not None:
            sae.W_skip.normal_()
    sae.chunk = 7  # several row chunks, the last one ragged
    x = torch.randn(30, 16)
    target = torch.randn(30, cfg.target_dim)

    fast = sae(x)
    ((fast - target) ** 2).sum().backward()
    grads_fast = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()

    if transcoder:
        pre = (x * sae.scale_in) @ sae.W_enc.T + sae.b_enc
        vals, idx = pre.topk(cfg.k, dim=1)
        f = torch.zeros_like(pre).scatter(1, idx, vals.relu())
        dense = (f @ sae.W_dec + sae.b_dec + (x * sae.scale_in) @ sae.W_skip) / sae.scale_out
    else:
        dense = _dense_topk_forward(sae, x)
    ((dense - target) ** 2).sum().backward()
    torch.testing.assert_close(fast, dense, rtol=1e-5, atol=1e-5)
    for name, param in sae.named_parameters():
        torch.testing.assert_close(grads_fast[name], param.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_save_load_round_trip(tmp_path):
    sae = Dictionary(DictConfig(d_in=8, width=32, k=2, hook_in="blocks.0.hook_resid_post", model="tiny"))
    with torch.no_grad():
        sae.b_dec.normal_()
    sae.save(tmp_path / "d", extra={"metrics": {"fvu": 0.1}})
    back = Dictionary.load(tmp_path / "d")
    x = torch.randn(5, 8)
    torch.testing.assert_close(back(x), sae(x))
    assert back.cfg == sae.cfg and back.meta["metrics"]["fvu"] == 0.1


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="k must be in 1..width"):
        DictConfig(d_in=8, width=16, k=32)
    with pytest.raises(ValueError, match="positive"):
        DictConfig(d_in=8, width=0)
    with pytest.raises(ValueError, match="kind"):
        DictConfig(d_in=8, width=16, kind="jump")
    sae = Dictionary(DictConfig(d_in=8, width=16, k=2))
    with pytest.raises(ValueError, match="must end in dimension 8"):
        sae(torch.randn(4, 9))
    for kind in ("topk", "relu"):
        dictionary = Dictionary(DictConfig(d_in=8, width=16, k=2, kind=kind))
        x = torch.randn(5, 8)
        x[3, 2] = float("nan")
        for call in (dictionary.encode, dictionary, lambda v: dictionary.encode(v.view(5, 1, 8))):
            with pytest.raises(ValueError, match="NaN or infinite values in 1 of 5 rows .first: row 3"):
                call(x)
    nan_rows = torch.randn(64, 8)
    nan_rows[0, 0] = float("inf")
    with pytest.raises(ValueError, match="training input has NaN"):
        train_dictionary(sae, nan_rows, TrainSettings(batch_size=16, progress=False))
    with pytest.raises(ValueError, match="at least batch_size"):
        train_dictionary(sae, torch.randn(10, 8), TrainSettings(batch_size=64, progress=False))
    with pytest.raises(FileNotFoundError, match="not a saved dictionary"):
        Dictionary.load(tmp_path)
    sae.save(tmp_path / "d")
    (tmp_path / "d" / "dictionary.safetensors").write_bytes(b"\x80\x04 not safetensors")
    with pytest.raises(ValueError, match="damaged or not a safetensors"):
        Dictionary.load(tmp_path / "d")
    meta = json.loads((tmp_path / "d" / "config.json").read_text())
    (tmp_path / "d" / "config.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="unknown format"):
        Dictionary.load(tmp_path / "d")
