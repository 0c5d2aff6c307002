"""Speed measurements for the workbook: `make bench` writes tests/benchmarks/results.md.

Every ratio is measured side by side in this one run, on this machine; the tests never assert times.
"""

from __future__ import annotations

import itertools
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

import mi_widgets as mw

RESULTS = Path(__file__).with_name("results.md")


def best_of(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls (seconds): the least disturbed by other work."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak() -> float:
    """fp32 GFLOP/s of a 1024^3 matmul on this CPU (the ceiling the other numbers are read against)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    return 2 * 1024**3 / best_of(lambda: a @ b, 5) / 1e9


def bench_models() -> list[str]:
    lines = ["## Bundled models: load time and forward throughput", "",
             "| model | parameters | load s | forward tokens/s (16 x 256) |", "| --- | ---: | ---: | ---: |"]
    for name in mw.bundled_models():
        load = best_of(lambda: mw.load_model(name), 2)
        model = mw.load_model(name)
        tokens = torch.randint(1, model.cfg.d_vocab, (16, model.cfg.n_ctx))
        with torch.no_grad():
            seconds = best_of(lambda: model(tokens))
        params = sum(p.numel() for p in model.parameters())
        lines.append(f"| {name} | {params:,} | {load:.2f} | {tokens.numel() / seconds:,.0f} |")
    return lines


def bench_harvest() -> list[str]:
    """Harvesting the last block's residual stream against a plain forward pass over the same rows."""
    from mi_widgets.activations import harvest_activations

    name = "stories-gelu-4l"
    model = mw.load_model(name)
    tokens = torch.randint(1, model.cfg.d_vocab, (128, model.cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    hook = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"

    def forward():
        with torch.no_grad():
            for i in range(0, len(tokens), 32):
                model(tokens[i: i + 32])

    plain = best_of(forward)
    harvest = best_of(lambda: harvest_activations(model, [hook], tokens, batch_size=32, progress=False))
    return ["## Activation harvesting", "",
            f"{name}, `{hook}`, {tokens.numel():,} tokens in batches of 32 rows: plain forward "
            f"{tokens.numel() / plain:,.0f} tokens/s, harvest {tokens.numel() / harvest:,.0f} tokens/s, "
            f"**ratio {plain / harvest:.2f}x** (bar: >= 0.8x). Harvesting stops after the last block it needs, "
            "so it skips the unembedding.", ""]


def bench_dashboard() -> list[str]:
    """Feature dashboard render time for one latent of a shipped SAE on the 4-layer model."""
    from mi_widgets.dictionaries.feature_index import FeatureIndex
    from mi_widgets.organisms.corpus import story_rows
    from mi_widgets.widgets import feature_dashboard

    model = mw.load_model("stories-gelu-4l")
    sae = mw.load_dictionary("resid2")
    rows = story_rows(model.tokenizer, 64, model.cfg.n_ctx, seed=0, split="val")
    start = time.perf_counter()
    acts = mw.harvest_activations(model, sae.cfg.hook_in, rows, progress=False)[sae.cfg.hook_in]
    index = FeatureIndex(sae, acts, rows)
    build = time.perf_counter() - start
    latents = torch.argsort(index.densities(), descending=True)[:: sae.cfg.width // 20][:20].tolist()
    times = []
    for latent in latents:
        times.append(best_of(lambda: feature_dashboard(model, index, latent)._repr_html_(), 1))
    return ["## Feature dashboard", "",
            f"resid2 SAE of stories-gelu-4l over {acts.shape[0]:,} held-out tokens: harvest + index {build:.2f} s once; "
            f"rendering one latent's dashboard (20 latents across the density range): mean {sum(times) / len(times):.3f} s, "
            f"**max {max(times):.3f} s** (bar: < 0.5 s).", ""]


def bench_batched_eval() -> list[str]:
    """Scoring capability-task items in batches against scoring the same items one by one.

    Also the ceiling on any speed-up: the model's own forward throughput on full rows (no
    unembedding, as the scorer unembeds only a few positions) over the one-by-one path's throughput.
    And the same items with prompts cut to their last 16 tokens, where per-call overhead dominates.
    """
    from mi_widgets.analysis.task_metrics import score_task
    from mi_widgets.organisms.stories import CAPABILITIES
    from mi_widgets.organisms.task_format import load_tasks

    items = load_tasks(CAPABILITIES).groupby("task").head(30).reset_index(drop=True)
    lines = ["## Batched evaluation of capability tasks", "",
             f"{len(items)} held-out items of `data/tasks` (the first 30 of each of the {len(CAPABILITIES)} tasks, "
             "with their wrong answers), scored by `mi_widgets.analysis.task_metrics.score_task` once with the default batching "
             "(rows sorted by length, prefixes shared) and once item by item; both paths unembed only the answer "
             "positions and the 24 before them. *Ceiling*: the model's forward throughput on 16 full rows "
             "(stopping before the unembedding) divided by the one-by-one throughput, the largest speed-up "
             "batching could give. *Short*: the same items with each prompt cut to its last 16 tokens.", "",
             "| model | prompts | tokens per item | one by one s | batched s | one by one tokens/s | "
             "batched tokens/s | speed-up | ceiling |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    ratios = []
    for name in ("stories-attn-1l", "stories-gelu-4l"):
        model = mw.load_model(name)
        tok = model.tokenizer
        short = items.assign(prompt=[tok.decode(tok(p, add_special_tokens=False)["input_ids"][-16:])
                                     for p in items.prompt])
        rows = torch.randint(1, model.cfg.d_vocab, (16, model.cfg.n_ctx), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            forward_tps = rows.numel() / best_of(lambda: model(rows, stop_at_layer=model.cfg.n_layers), 3)
        for label, task in (("full", items), ("short", short)):
            n_tokens = sum(len(tok(p + a, add_special_tokens=False)["input_ids"]) + 1
                           for p, a in zip(task.prompt, task.answer))
            score_task(model, task.head(8))  # warm-up
            one = best_of(lambda: [score_task(model, task.iloc[[i]]) for i in range(len(task))], 1)
            batched = best_of(lambda: score_task(model, task), 3)
            if label == "full":
                ratios.append(one / batched)
            lines.append(f"| {name} | {label} | {n_tokens / len(task):.0f} | {one:.2f} | {batched:.2f} | "
                         f"{n_tokens / one:,.0f} | {n_tokens / batched:,.0f} | {one / batched:.1f}x | "
                         f"{forward_tps * one / n_tokens:.1f}x |")
    return lines + ["", f"**Smallest speed-up on the real prompts: {min(ratios):.1f}x** (bar: >= 10x).", ""]


def skinny_peak(batch: int = 4096, d_in: int = 128, width: int = 2048) -> float:
    """GFLOP/s of the SAE encoder's matmul shape ([batch, d_in] @ [d_in, width])."""
    a, b = torch.randn(batch, d_in), torch.randn(d_in, width)
    a @ b
    return 2 * batch * d_in * width / best_of(lambda: a @ b, 10) / 1e9


def _train_ours(x: torch.Tensor, width: int, k: int, batch: int, lr: float, tokens: int, seed: int = 0):
    from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
    from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary

    sae = Dictionary(DictConfig(d_in=x.shape[1], width=width, k=k), seed=seed)
    result = train_dictionary(sae, x, TrainSettings(tokens=tokens, batch_size=batch, lr=lr, seed=seed, progress=False))
    return sae, result.seconds


def _train_saelens(x: torch.Tensor, width: int, k: int, batch: int, lr: float, tokens: int, seed: int = 0):
    """SAELens 6.54's TopK SAE and its own trainer, fed the same batches in the same order."""
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=x.shape[1], d_sae=width, k=k, device="cpu"))
    steps = tokens // batch
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    starts = itertools.count(0, batch)  # endless: the trainer may ask for more batches than it trains on
    batches = (x[order[(s % len(x)):][:batch]] for s in starts)
    cfg = SAETrainerConfig(total_training_samples=steps * batch, train_batch_size_samples=batch, lr=lr,
                           lr_end=lr, device="cpu", logger=LoggingConfig(log_to_wandb=False,
                                                                         eval_every_n_wandb_logs=2**31 - 1))
    start = time.perf_counter()
    SAETrainer(cfg=cfg, sae=sae, data_provider=batches).fit()
    return sae, time.perf_counter() - start


@torch.no_grad()
def _quality(recon_fn, decoder: torch.Tensor, x: torch.Tensor, directions: torch.Tensor, width: int) -> dict:
    from mi_widgets.dictionaries.synthetic_data import recovered_fraction

    recon, active = recon_fn(x)
    fvu = (recon - x).pow(2).sum().item() / (x - x.mean(0)).pow(2).sum().item()
    dead = (active.sum(0) == 0).float().mean().item()
    return dict(fvu=fvu, dead=dead, recovered=recovered_fraction(decoder, directions))


def bench_sae() -> list[str]:
    """Our TopK SAE trainer against SAELens on identical synthetic activations with known directions."""
    from mi_widgets.dictionaries.synthetic_data import SparseFeatureData

    d, width, k, batch, tokens = 128, 2048, 8, 4096, 2_000_000
    data = SparseFeatureData(d=d, n_features=2048, active=8, noise=0.01, seed=0)
    x, x_eval = data.sample(tokens), data.sample(50_000)
    peak = skinny_peak(batch, d, width)
    limit = peak * 1e9 / (2 * d * width)
    lines = ["## SAE training: ours against SAELens 6.54 (TopK), same activations", "",
             f"Synthetic activations: 2048 known unit directions in {d} dimensions, about 8 active per row with "
             f"exponential magnitudes, noise 0.01. Width {width}, k {k}, batch {batch}, {tokens:,} tokens (one pass). "
             f"Encoder-shaped matmul peak in this run: {peak:.0f} GFLOP/s, so the dense-encoder limit is "
             f"{limit:,.0f} tokens/s. Dense-equivalent GFLOP/s counts 12 * d_in * width flop per token (a dense "
             "TopK SAE's forward and backward). `recovered` = share of true directions with a decoder row at "
             "cosine > 0.9.", "",
             "| trainer | lr | tokens/s | dense-equiv GFLOP/s | share of limit | FVU | dead | recovered |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    speeds = {}
    for lr in (2e-3, 4e-4):
        sae, secs = _train_ours(x, width, k, batch, lr, tokens)

        def ours(rows, sae=sae):
            f = sae.encode(rows)
            return sae.decode(f), f

        q = _quality(ours, sae.W_dec, x_eval, data.directions, width)
        speeds[("ours", lr)] = tokens / secs
        sl, sl_secs = _train_saelens(x, width, k, batch, lr, tokens)

        def theirs(rows, sl=sl):
            f = sl.encode(rows)
            return sl.decode(f), f

        q_sl = _quality(theirs, sl.W_dec.detach(), x_eval, data.directions, width)
        speeds[("saelens", lr)] = tokens / sl_secs
        for who, quality in (("ours", q), ("saelens", q_sl)):
            tps = speeds[(who, lr)]
            lines.append(f"| {who} | {lr:g} | {tps:,.0f} | {tps * 12 * d * width / 1e9:.0f} | {tps / limit:.0%} | "
                         f"{quality['fvu']:.3f} | {quality['dead']:.1%} | {quality['recovered']:.1%} |")
    ratio = min(speeds[("ours", lr)] / speeds[("saelens", lr)] for lr in (2e-3, 4e-4))
    lines += ["", f"**Speed ratio ours / SAELens: {ratio:.1f}x** (the smaller of the two runs; bar: >= 4x).", ""]
    return lines


def bench_patching() -> list[str]:
    """Attribution patching against activation patching of the same components, side by side."""
    from mi_widgets.analysis.ioi import ioi_families
    from mi_widgets.patching import attribution_patch, every_position, patch_scan

    name = "stories-gelu-4l"
    model = mw.load_model(name)
    family = ioi_families(model, templates=[0], n=48, seed=0)[0]
    metric, positions = family.metric(model), every_position(family.clean)
    hooks = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    scan = lambda: patch_scan(model, family.clean, family.abc, metric, hooks, positions, per_head=True,  # noqa: E731
                              progress=False)
    estimate = lambda: attribution_patch(model, family.clean, family.abc, metric, hooks, positions,  # noqa: E731
                                         per_head=True)
    activation, attribution = best_of(scan, 2), best_of(estimate, 3)
    exact, guess = scan(), estimate()
    corr = torch.corrcoef(torch.stack([exact.flatten(), guess.flatten()]))[0, 1].item()
    n = exact.numel()
    return ["## Attribution patching against activation patching", "",
            f"Every head's output (`hook_z`) at every position of one IOI family of {name} ({family.clean.shape[0]} "
            f"prompts of {family.clean.shape[1]} tokens, template {family.template}, ABC corruption): {n} components, "
            "denoising, the normalised logit difference. Activation patching runs one forward pass per component; "
            "attribution patching one forward and one backward pass for all of them.", "",
            "| method | seconds | components/s |", "| --- | ---: | ---: |",
            f"| activation patching (`patch_scan`) | {activation:.2f} | {n / activation:,.0f} |",
            f"| attribution patching (`attribution_patch`) | {attribution:.3f} | {n / attribution:,.0f} |", "",
            f"**Speed-up: {activation / attribution:.0f}x**; correlation of the two over the components: {corr:.3f}.", ""]


def bench_attribution_graph() -> list[str]:
    """An attribution graph through all four shipped transcoders of the 4-layer model, for prompts of growing length."""
    from mi_widgets.analysis.circuits import LogitTarget, attribution_graph
    from mi_widgets.organisms.corpus import story_rows

    model = mw.load_model("stories-gelu-4l")
    transcoders = {layer: mw.load_dictionary(f"mlp{layer}-tc") for layer in range(4)}
    rows = story_rows(model.tokenizer, 1, 65, seed=0, split="test")
    lines = ["## Attribution graph", "", "| prompt tokens | nodes | build (s) | prune to 80% (s) |",
             "| ---: | ---: | ---: | ---: |"]
    worst = 0.0
    for length in (16, 32, 64):
        prompt = rows[0, :length].tolist()
        target = LogitTarget(int(rows[0, length]))
        graph = attribution_graph(model, prompt, transcoders, target)  # warm-up, and the node count
        build = best_of(lambda: attribution_graph(model, prompt, transcoders, target))
        prune = best_of(lambda: attribution_graph(model, prompt, transcoders, target).prune(0.8)) - build
        if length <= 32:
            worst = max(worst, build)
        lines.append(f"| {length} | {len(graph.nodes):,} | {build:.2f} | {max(prune, 0.0):.2f} |")
    return lines + ["", f"**Slowest build for a prompt of up to 32 tokens: {worst:.2f} s** (bar: < 2 s).", ""]


SECTIONS = {"models": lambda: bench_models() + [""], "harvest": lambda: bench_harvest(),
            "dashboard": lambda: bench_dashboard(), "batched_eval": lambda: bench_batched_eval(),
            "sae": lambda: bench_sae(), "patching": lambda: bench_patching(),
            "attribution_graph": lambda: bench_attribution_graph()}


def replace_section(text: str, lines: list[str]) -> str:
    """``text`` with the section that ``lines`` starts ("## ...") replaced, or appended if absent."""
    title = lines[0]
    stamp = f"(Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on its own; the rest of this file is from the run dated above.)"
    body = "\n".join([title, "", stamp, *lines[1:]]) + "\n"
    if title not in text:
        return text.rstrip("\n") + "\n\n" + body
    head, rest = text.split(title, 1)
    after = rest.find("\n## ")
    return head + body + (rest[after + 1:] if after >= 0 else "")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Measure the workbook's speed bars into results.md.")
    parser.add_argument("--only", choices=list(SECTIONS), help="rerun one section and replace it in results.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.only:
        RESULTS.write_text(replace_section(RESULTS.read_text(), SECTIONS[args.only]()))
        print(RESULTS.read_text())
        return
    header = [f"# Benchmark results", "",
              f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
              f"{torch.get_num_threads()} threads, torch {torch.__version__}. "
              f"fp32 matmul peak: {matmul_peak():.0f} GFLOP/s.", ""]
    RESULTS.write_text("\n".join(header + [line for fn in SECTIONS.values() for line in fn()]) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
