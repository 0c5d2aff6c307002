"""Speed measurements for the workbook: `make bench` writes tests/benchmarks/results.md.

Every ratio is measured side by side in this one run, on this machine; the tests never assert times.
"""

from __future__ import annotations

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


def main() -> None:
    torch.manual_seed(0)
    header = [f"# Benchmark results", "",
              f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
              f"{torch.get_num_threads()} threads, torch {torch.__version__}. "
              f"fp32 matmul peak: {matmul_peak():.0f} GFLOP/s.", ""]
    RESULTS.write_text("\n".join(header + bench_models()) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
