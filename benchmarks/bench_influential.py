"""Benchmark of Jung et al.'s influential scores (issue 9).

1. Fast path (modified backward pass, cnnexplain.methods.influential_scores.fast) against the explicit matrix/tensor products
   (cnnexplain.methods.influential_scores.reference) on a small CNN where both fit: time ratio and largest difference.
2. Fast path on torchvision's VGG16 (weights=None, no download) at 224 px: time relative to one forward pass,
   for the input scores w.r.t. one output node and w.r.t. 10 output nodes.

Run: PYTHONPATH=lib python benchmarks/bench_influential.py [--repeats 3] [--skip-vgg]
Prints the ratios measured in this run; no assertions on time.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from torch import nn

from cnnexplain.methods.influential_scores.fast import influential_scores, scores_from_snapshot, snapshot
from cnnexplain.methods.influential_scores.reference import explicit_scores


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def small_cnn() -> nn.Sequential:
    """An MNIST-sized CNN small enough for the explicit tensors (the largest is 1,568 x 3,136)."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10)).double().eval()


def bench_small(repeats: int) -> None:
    torch.manual_seed(0)
    model, x = small_cnn(), torch.rand(1, 1, 28, 28, dtype=torch.float64)
    t_explicit, explicit = best_time(lambda: explicit_scores(model, x, 0, "output"), repeats)
    t_fast, fast = best_time(lambda: influential_scores(model, x, 0, "output"), repeats)
    fast_matrix = fast[0].reshape(10, -1).T.numpy()
    rel = np.abs(fast_matrix - explicit).max() / np.abs(explicit).max()
    print(f"small CNN 1x28x28 -> 10 (all 10 output nodes, float64): explicit {t_explicit * 1e3:.1f} ms, "
          f"fast {t_fast * 1e3:.1f} ms, explicit/fast = {t_explicit / t_fast:.1f}x, max relative difference {rel:.1e}")


def bench_vgg16(repeats: int) -> None:
    from cnnexplain.compat import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        t_forward, logits = best_time(lambda: model(x), repeats)
    top = int(logits.argmax())
    t_snapshot, snap = best_time(lambda: snapshot(model, x, check=False), repeats)
    print(f"VGG16 224 px (weights=None, {torch.get_num_threads()} threads): forward {t_forward:.3f} s; "
          f"snapshot (forward keeping every layer) {t_snapshot:.3f} s = {t_snapshot / t_forward:.2f}x forward")
    for nodes in ([top], list(range(10))):
        t_back, scores = best_time(lambda: scores_from_snapshot(snap, [0], "output", nodes=nodes), repeats)
        total = t_snapshot + t_back
        print(f"  input scores w.r.t. {len(nodes):2d} output node(s): backward {t_back:.3f} s; snapshot + backward "
              f"{total:.3f} s = {total / t_forward:.2f}x one forward pass; scores shape {tuple(scores[0].shape)}, "
              f"finite: {bool(torch.isfinite(scores[0]).all())}")
    print(f"  peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-vgg", action="store_true")
    args = parser.parse_args()
    bench_small(args.repeats)
    if not args.skip_vgg:
        bench_vgg16(args.repeats)


if __name__ == "__main__":
    main()
