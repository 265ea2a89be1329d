"""Benchmark: layer-wise influence on a VGG-16-layout net (13 conv + 3 fc, narrow widths, 28 px MNIST).

Prints, from one run:
  1. all 16 layers together vs one layer (conv1, the costliest single layer, and fc3) — goal ≤ 2×;
  2. vs a naive implementation (one run per layer, per-sample gradients in a Python loop, dense block
     Hessian from Hessian-vector products recomputed per layer);
  3. vs pyDVL 0.10 DirectInfluence with the 16 blocks passed explicitly, if importable, with per-layer
     Pearson agreement (pyDVL's sign is flipped). pyDVL 0.10 declares numpy<2 and is NOT in the pinned
     environment (installing it would downgrade numpy 2.4 → 1.26); its code runs fine on numpy 2, so install
     it aside:  pip install --no-deps --target /tmp/pydvl_site pydvl==0.10.0 pyDeprecate==0.14.0
     zarr==3.1.6 donfig==0.8.1.post1 google-crc32c==1.9.0 numcodecs==0.16.6 more-itertools==11.2.1
     and run with PYTHONPATH=lib:/tmp/pydvl_site;
  4. peak resident memory of the scoring for 1,000 and 4,000 training images (each in a fresh
     subprocess; ``resource.getrusage`` max RSS), Hessian data fixed at ``--n-hessian`` images.

Run:  PYTHONPATH=lib python benchmarks/bench_influence.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import OrderedDict

import torch
from torch import nn

from cnnexplain.data.sources import embedded_mnist
from cnnexplain.methods.influence_functions.hvp import ModelFunction, parameter_blocks
from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence
from cnnexplain.train import fit

DAMPING = 1e-3


def vgg16_layout(num_classes: int = 10, widths=(4, 4, 8, 8, 8), hidden: int = 32) -> nn.Sequential:
    """VGG-16's layout — conv stages of 2, 2, 3, 3, 3 layers, then 3 fully connected — at narrow widths for
    28×28 inputs (pooling after the first four stages: 28→14→7→3→1). 16 blocks of 40–1,056 parameters."""
    stages, layers, channels = (2, 2, 3, 3, 3), [], 1
    for i, (count, width) in enumerate(zip(stages, widths)):
        for _ in range(count):
            conv = nn.Conv2d(channels, width, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # He init: it trains without BatchNorm
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
            channels = width
        if i < 4:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
               nn.Linear(hidden, num_classes)]
    return nn.Sequential(*layers)


def trained_model(seed: int = 0, epochs: int = 3):
    torch.manual_seed(seed)
    x, y, xt, yt = embedded_mnist(4000, 10, seed=seed)
    model = vgg16_layout()
    if epochs:
        fit(model, x, y, epochs=epochs, batch_size=64, lr=2e-3, seed=seed, progress=False)
    return model.eval(), x, y, xt, yt


def ours(model, x_hess, y_hess, x_test, y_test, x_train, y_train, layers=None):
    start = time.perf_counter()
    calc = LayerwiseInfluence(model, x_hess, y_hess, layers=layers, damping=DAMPING, batch_size=256)
    scores = calc.scores(x_test, y_test, x_train, y_train, progress=False)
    return scores, time.perf_counter() - start, calc


def naive(model, x_hess, y_hess, x_test, y_test, x_train, y_train, budget_s: float):
    """One run per layer; per-sample gradients in a Python loop; H_l from p_l double-backward HVPs."""
    params = dict(model.named_parameters())
    blocks = parameter_blocks(model, example_input=x_hess[:1])
    start, out, done = time.perf_counter(), [], []
    for block in blocks:
        tensors = [params[n] for n in block.param_names]

        def loop_grads(x, y):
            rows = []
            for i in range(len(x)):
                g = torch.autograd.grad(nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), tensors)
                rows.append(torch.cat([t.flatten() for t in g]))
            return torch.stack(rows)

        g = torch.autograd.grad(nn.functional.cross_entropy(model(x_hess), y_hess), tensors, create_graph=True)
        g = torch.cat([t.flatten() for t in g])
        hessian = torch.stack([torch.cat([t.flatten() for t in torch.autograd.grad(g, tensors, e, retain_graph=True)])
                               for e in torch.eye(len(g))])
        inverse = torch.linalg.inv(hessian + DAMPING * torch.eye(len(g)))
        out.append(-(loop_grads(x_test, y_test) @ inverse @ loop_grads(x_train, y_train).T).detach())
        done.append(block.name)
        if time.perf_counter() - start > budget_s:
            break
    return torch.stack(out, -1), time.perf_counter() - start, done


def pydvl_scores(model, x_hess, y_hess, x_test, y_test, x_train, y_train):
    from pydvl.influence.torch import DirectInfluence
    from torch.utils.data import DataLoader, TensorDataset

    blocks = parameter_blocks(model, example_input=x_hess[:1])
    structure = OrderedDict((b.name, list(b.param_names)) for b in blocks)
    start = time.perf_counter()
    model_ = DirectInfluence(model, nn.functional.cross_entropy, regularization=DAMPING, block_structure=structure)
    model_ = model_.fit(DataLoader(TensorDataset(x_hess, y_hess), batch_size=256))
    by_block = model_.influences_by_block(x_test, y_test, x_train, y_train)
    elapsed = time.perf_counter() - start
    return torch.stack([-by_block[b.name] for b in blocks], -1), elapsed  # pyDVL's sign is +gᵀH⁻¹g


def pearson(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def memory_probe(n_train: int, n_hessian: int) -> None:
    model, x, y, xt, yt = trained_model(epochs=0)  # memory does not depend on the weights' values
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scores, seconds, _ = ours(model, x[:n_hessian], y[:n_hessian], xt, yt, x[:n_train], y[:n_train])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n_train": n_train, "seconds": seconds, "peak_rss_mb": peak / 1024,
                      "scoring_rss_increase_mb": (peak - base) / 1024, "shape": list(scores.layers.shape)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-hessian", type=int, default=1000)
    parser.add_argument("--naive-budget", type=float, default=240.0, help="stop the naive run after this (s)")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--epochs", type=int, default=2, help="Adam epochs on 4,000 digits before scoring")
    args = parser.parse_args()
    if args.memory_probe:
        return memory_probe(args.memory_probe, args.n_hessian)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    model, x, y, xt, yt = trained_model(epochs=args.epochs)
    xh, yh, xtr, ytr = x[:args.n_hessian], y[:args.n_hessian], x[:args.n_train], y[:args.n_train]
    blocks = parameter_blocks(model, example_input=x[:1])
    print(f"model: {len(blocks)} blocks, sizes {min(b.numel for b in blocks)}–{max(b.numel for b in blocks)}, "
          f"test accuracy on 10 held-out digits: {(model(xt).argmax(1) == yt).float().mean():.2f}")
    print(f"problem: 10 test × {args.n_train} train scores, Hessian over {args.n_hessian} images, damping {DAMPING}")

    ours(model, xh[:16], yh[:16], xt[:2], yt[:2], xtr[:16], ytr[:16])  # warm-up (torch.func first-call cost)
    all_scores, t_all, calc = ours(model, xh, yh, xt, yt, xtr, ytr)
    print(f"ours, all 16 layers: {t_all:.1f} s  (curvature: {calc.curvature}, solver: {calc.solver.name}; "
          f"{ {k: round(v, 1) for k, v in calc.timings.items()} })")
    for layer in ("conv1", "fc3"):
        _, t_one, _ = ours(model, xh, yh, xt, yt, xtr, ytr, layers=[layer])
        print(f"ours, one layer ({layer}): {t_one:.1f} s  → all/one = {t_all / t_one:.2f}×  (goal ≤ 2×)")

    naive_scores, t_naive, done = naive(model, xh, yh, xt, yt, xtr, ytr, args.naive_budget)
    per_layer = t_naive / len(done)
    estimate = per_layer * len(blocks)
    print(f"naive: {len(done)}/{len(blocks)} layers in {t_naive:.1f} s → all 16 ≈ {estimate:.0f} s "
          f"(measured {'all' if len(done) == len(blocks) else 'part, extrapolated linearly by layer count'}); "
          f"ours is {estimate / t_all:.1f}× faster")
    agreement = [pearson(naive_scores[..., i], all_scores.layers[..., i]) for i in range(len(done))]
    print(f"naive vs ours, per-layer Pearson: min {min(agreement):.6f}")

    try:
        dvl, t_dvl = pydvl_scores(model, xh, yh, xt, yt, xtr, ytr)
        r = [pearson(dvl[..., i], all_scores.layers[..., i]) for i in range(len(blocks))]
        print(f"pyDVL DirectInfluence (16 explicit blocks): {t_dvl:.1f} s; ours is {t_dvl / t_all:.1f}× faster; "
              f"per-layer Pearson ours vs pyDVL: min {min(r):.6f}, max {max(r):.6f}")
    except ImportError as error:
        print(f"pyDVL not importable ({error}); skipped")

    if not args.skip_memory:
        for n in (1000, 4000):
            out = subprocess.run([sys.executable, __file__, "--memory-probe", str(n), "--n-hessian",
                                  str(args.n_hessian)], capture_output=True, text=True, check=True)
            print("memory:", out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
