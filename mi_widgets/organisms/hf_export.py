"""The bundled models in Hugging Face ``transformers`` format (GPT-2), for transformers and nnsight.

The export is made on demand from the bundled weights into ``data/models/<name>/hf/`` (not committed;
the safetensors file it writes is a pure function of the bundled one). The mapping is exact: both
models use LayerNorm with eps 1e-5, learned absolute positions, GPT-2's tanh GELU, attention scaled by
1/sqrt(d_head), no lm_head bias (the bundled models keep ``b_U`` at zero). Attention-only models get an
MLP of width 1 whose weights are zero, so it adds exactly nothing.

    python -m mi_widgets.organisms.hf_export stories-gelu-4l
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import einops
import torch

from mi_widgets.models import data_dir, load_model


def gpt2_state_dict(model) -> dict[str, torch.Tensor]:
    """Map a HookedTransformer's weights onto GPT2LMHeadModel's parameter names."""
    cfg, sd = model.cfg, model.state_dict()
    if sd["unembed.b_U"].abs().max() > 0:
        raise ValueError("GPT-2 has no lm_head bias, and this model's b_U is not zero: it cannot be exported exactly")
    out = {"transformer.wte.weight": sd["embed.W_E"], "transformer.wpe.weight": sd["pos_embed.W_pos"],
           "transformer.ln_f.weight": sd["ln_final.w"], "transformer.ln_f.bias": sd["ln_final.b"],
           "lm_head.weight": sd["unembed.W_U"].T}
    for layer in range(cfg.n_layers):
        b, h = f"blocks.{layer}.", f"transformer.h.{layer}."
        qkv = [einops.rearrange(sd[b + f"attn.W_{x}"], "n m d -> m (n d)") for x in "QKV"]  # Conv1D: x @ W
        out |= {
            h + "ln_1.weight": sd[b + "ln1.w"], h + "ln_1.bias": sd[b + "ln1.b"],
            h + "attn.c_attn.weight": torch.cat(qkv, dim=1),
            h + "attn.c_attn.bias": torch.cat([sd[b + f"attn.b_{x}"].flatten() for x in "QKV"]),
            h + "attn.c_proj.weight": einops.rearrange(sd[b + "attn.W_O"], "n d m -> (n d) m"),
            h + "attn.c_proj.bias": sd[b + "attn.b_O"],
        }
        if cfg.attn_only:
            zeros = dict(ln_w=torch.ones(cfg.d_model), ln_b=torch.zeros(cfg.d_model))
            out |= {h + "ln_2.weight": zeros["ln_w"], h + "ln_2.bias": zeros["ln_b"],
                    h + "mlp.c_fc.weight": torch.zeros(cfg.d_model, 1), h + "mlp.c_fc.bias": torch.zeros(1),
                    h + "mlp.c_proj.weight": torch.zeros(1, cfg.d_model), h + "mlp.c_proj.bias": torch.zeros(cfg.d_model)}
        else:
            out |= {h + "ln_2.weight": sd[b + "ln2.w"], h + "ln_2.bias": sd[b + "ln2.b"],
                    h + "mlp.c_fc.weight": sd[b + "mlp.W_in"], h + "mlp.c_fc.bias": sd[b + "mlp.b_in"],
                    h + "mlp.c_proj.weight": sd[b + "mlp.W_out"], h + "mlp.c_proj.bias": sd[b + "mlp.b_out"]}
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def gpt2_config(model):
    """A Hugging Face ``GPT2Config`` with the shapes of the HookedTransformer ``model``."""
    from transformers import GPT2Config

    cfg = model.cfg
    if cfg.n_heads * cfg.d_head != cfg.d_model:
        raise ValueError("GPT-2 needs n_heads * d_head == d_model")
    if cfg.normalization_type != "LN" or cfg.positional_embedding_type != "standard":
        raise ValueError("only LayerNorm models with learned absolute positions map onto GPT-2")
    if not cfg.attn_only and cfg.act_fn != "gelu_new":
        raise ValueError(f"GPT-2 uses the tanh GELU ('gelu_new'), this model uses {cfg.act_fn!r}")
    return GPT2Config(vocab_size=cfg.d_vocab, n_positions=cfg.n_ctx, n_embd=cfg.d_model, n_layer=cfg.n_layers,
                      n_head=cfg.n_heads, n_inner=1 if cfg.attn_only else cfg.d_mlp, activation_function="gelu_new",
                      layer_norm_epsilon=cfg.eps, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      tie_word_embeddings=False, bos_token_id=model.tokenizer.bos_token_id,
                      eos_token_id=model.tokenizer.eos_token_id)


def export_hf(name: str, *, models_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Write the bundled model ``name`` as a GPT-2 folder, ``<model folder>/hf``, that Hugging Face
    ``from_pretrained`` and nnsight load offline; returns the folder."""
    from transformers import GPT2LMHeadModel

    root = Path(models_dir) if models_dir is not None else data_dir() / "models"
    folder = root / name / "hf"
    if (folder / "model.safetensors").exists() and not overwrite:
        return folder
    model = load_model(name, models_dir=root)
    hf = GPT2LMHeadModel(gpt2_config(model))
    hf.load_state_dict(gpt2_state_dict(model), strict=True)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    hf.save_pretrained(tmp)
    model.tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def language_model(name: str, *, remote: bool = False):
    """nnsight's model (a ``TransformersModel`` for text generation) for ``name``, the model a trace with
    ``remote=remote`` runs on.

    ``remote=False``: local weights (a bundled model's Hugging Face export, or a hub model from the local
    cache). ``remote=True``: NDIF's hosted copy under the hub name TransformerLens uses for ``name``; it
    checks first that NDIF can be reached (`mi_widgets.remote.check_remote`), so offline it fails in
    seconds, and a bundled model (which lives only here) is refused.

        lm = language_model("stories-gelu-2l")
        lm = language_model("gpt2", remote=True)   # then: with lm.trace(prompt, remote=True): ...
    """
    from nnsight.modeling.transformers import TransformersModel

    from mi_widgets.models import ModelLoadError, bundled_models
    from mi_widgets.remote import check_remote

    bundled = name in bundled_models()
    if remote:
        if bundled:
            raise ModelLoadError(f"{name!r} is a bundled model: it exists only on this machine, so NDIF cannot run it. "
                                 "Set REMOTE = False, or MODEL to a hub model that NDIF hosts.")
        check_remote()
    if bundled:
        return TransformersModel(str(export_hf(name)), task="text-generation", dispatch=True)
    from transformer_lens import loading

    try:
        hub = loading.get_official_model_name(name)
    except ValueError:
        raise ModelLoadError(f"unknown model {name!r}: neither bundled nor a TransformerLens model name") from None
    return TransformersModel(hub, task="text-generation", dispatch=not remote)  # remote: NDIF holds the weights


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(export_hf(arg, overwrite=True))
