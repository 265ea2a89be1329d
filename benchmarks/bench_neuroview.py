"""Training-step time of NeuroView vs the plain network, same trunk (the cost of the hooks, the soft-VQ
codes of every unit and the wide linear classifier, minus the plain head that NeuroView drops).

Prints, per architecture, the median time of one Adam training step (forward, backward, update) for
each variant and their ratio, measured in one run. CPU process time is reported beside wall time
because shared machines make wall time noisy.

    PYTHONPATH=lib python benchmarks/bench_neuroview.py [--steps 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from cnnexplain.methods.neuroview import NeuroView
from cnnexplain.models.neuroview_backbones import build

CASES = [  # (arch, BatchNorm in the small layouts, input shape, batch size)
    ("small_vgg11", False, (3, 32, 32), 64),
    ("small_vgg11", True, (3, 32, 32), 32),  # notebook 30's Table 1 recipe (batch 32)
    ("small_alexnet", False, (3, 32, 32), 64),
    ("small_alexnet", True, (3, 32, 32), 32),
    ("resnet18", False, (3, 32, 32), 32),  # notebook 30's torchvision row
    ("vgg11", False, (3, 64, 64), 16),
    ("resnet18", False, (3, 64, 64), 16),
]


def step_times(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int = 3):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    wall, cpu = [], []
    for i in range(warmup + steps):
        w0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        if i >= warmup:
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} timed steps after 3 warm-up steps")
    print(f"{'arch':>14} {'input':>12} {'batch':>5} {'units':>6} | {'plain ms':>9} {'NV ms':>9} {'ratio':>6} |"
          f" {'plain cpu':>9} {'NV cpu':>9} {'ratio':>6} | params plain / NV")
    for arch, bn, shape, batch in CASES:
        torch.manual_seed(0)
        x = torch.rand(batch, *shape)
        y = torch.randint(0, args.classes, (batch,))
        plain = build(arch, shape[0], args.classes, batch_norm=bn)
        site = "preact" if bn or arch.startswith("resnet") else "conv"
        nv = NeuroView(build(arch, shape[0], args.classes, batch_norm=bn), args.classes, shape, pooling="max", site=site)
        pw, pc = step_times(plain, x, y, args.steps)
        nw, nc = step_times(nv, x, y, args.steps)
        n_plain = sum(p.numel() for p in plain.parameters())
        n_nv = sum(p.numel() for p in nv.parameters())
        print(f"{arch + (' BN' if bn else ''):>14} {str(shape):>12} {batch:>5} {nv.n_units:>6} | {1e3 * pw:9.1f} {1e3 * nw:9.1f} {nw / pw:6.2f} |"
              f" {1e3 * pc:9.1f} {1e3 * nc:9.1f} {nc / pc:6.2f} | {n_plain:,} / {n_nv:,}")


if __name__ == "__main__":
    main()
