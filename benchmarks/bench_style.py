"""Style-transfer steps per second: cnnexplain.methods.style.transfer vs the PyTorch neural-style tutorial's loop.

The tutorial (pytorch.org/tutorials/advanced/neural_style_tutorial.html) copies the feature stack into a
new ``nn.Sequential`` with ContentLoss / StyleLoss modules inserted after the chosen layers, trims it
after the last loss module, and runs ``model(input_img)`` inside an L-BFGS closure that clamps the image
first; one "step" is one closure evaluation. We rebuild exactly that structure here on the **same
features** (the same VGG19 stack, same layers, same weights) and time both with L-BFGS, one step = one
loss evaluation, at 128 and 256 px. Also timed: our default offline profile (random VGG19 at width 0.25
on a 3-level pyramid), and styling 16 images of 64 px batched vs one at a time.

Run:  PYTHONPATH=lib python benchmarks/bench_style.py [--steps 10] [--width 1.0]
Prints one table of measured seconds and ratios; numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from cnnexplain.methods import style


# --- the tutorial's structure ----------------------------------------------------------------------------

def tutorial_gram(x):
    a, b, c, d = x.size()
    features = x.view(a * b, c * d)
    return torch.mm(features, features.t()).div(a * b * c * d)


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, x):
        self.loss = F.mse_loss(x, self.target)
        return x


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = tutorial_gram(target_feature).detach()

    def forward(self, x):
        self.loss = F.mse_loss(tutorial_gram(x), self.target)
        return x


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


def tutorial_model(features: nn.Sequential, style_img, content_img, content_idx, style_idx):
    model = nn.Sequential(Normalization(style.IMAGENET_MEAN, style.IMAGENET_STD))
    content_losses, style_losses = [], []
    for i, layer in enumerate(features):
        model.add_module(str(i), layer)
        if i in content_idx:
            cl = ContentLoss(model(content_img).detach())
            model.add_module(f"content_loss_{i}", cl)
            content_losses.append(cl)
        if i in style_idx:
            sl = StyleLoss(model(style_img).detach())
            model.add_module(f"style_loss_{i}", sl)
            style_losses.append(sl)
    for j in range(len(model) - 1, -1, -1):  # trim after the last loss, as the tutorial does
        if isinstance(model[j], (ContentLoss, StyleLoss)):
            break
    return model[:j + 1], style_losses, content_losses


def run_tutorial(features, content_img, style_img, steps, style_weight=1e6, content_weight=1):
    index = style.vgg19_layer_index()
    model, style_losses, content_losses = tutorial_model(
        features, style_img, content_img, {index[n] for n in style.CONTENT_LAYERS},
        {index[n] for n in style.STYLE_LAYERS})
    model.eval().requires_grad_(False)
    input_img = content_img.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([input_img])
    run = [0]
    start = time.perf_counter()
    while run[0] < steps:
        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            loss = style_weight * sum(sl.loss for sl in style_losses) + content_weight * sum(cl.loss for cl in content_losses)
            loss.backward()
            run[0] += 1
            return loss
        optimizer.step(closure)
    return (time.perf_counter() - start) / run[0]


def run_ours(extractor, content_img, style_img, steps, optimizer="lbfgs"):
    r = style.transfer(content_img, style_img, steps=steps, extractor=extractor, optimizer=optimizer, progress=False)
    return r.seconds / (len(r.history["total"]) - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--width", type=float, default=1.0, help="VGG19 channel scale for the head-to-head")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    same = style.vgg19_features("random", seed=0, width=args.width, scales=(1.0,), pool="max")
    default = style.vgg19_features("random", seed=0)
    rows = []
    for size in args.sizes:
        content = torch.rand(1, 3, size, size)
        sty = torch.rand(1, 3, size, size)
        run_ours(same, content, sty, 2)  # warm-up
        tut = run_tutorial(same.features, content, sty, args.steps)
        ours = run_ours(same, content, sty, args.steps)
        ours_default = run_ours(default, content, sty, args.steps, optimizer="adam")
        rows.append((size, tut, ours, ours_default))
    print(f"\nsame features: VGG19 layout, width {args.width}, max-pool, single scale; L-BFGS, 1 step = 1 loss evaluation")
    print(f"{'size':>5} {'tutorial steps/s':>17} {'ours steps/s':>13} {'ours/tutorial':>14} {'ours default profile steps/s':>29}")
    for size, tut, ours, dflt in rows:
        print(f"{size:>5} {1 / tut:>17.2f} {1 / ours:>13.2f} {tut / ours:>14.2f} {1 / dflt:>29.2f}")

    # batching: 16 world-sized images in one call vs one call per image
    images, styles = torch.rand(16, 3, 64, 64), torch.rand(16, 3, 64, 64)
    t0 = time.perf_counter()
    style.transfer(images, styles, steps=args.steps, extractor=default, optimizer="adam", progress=False)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(16):
        style.transfer(images[i:i + 1], styles[i:i + 1], steps=args.steps, extractor=default, optimizer="adam",
                       progress=False)
    single = time.perf_counter() - t0
    print(f"\n16 images of 64 px, {args.steps} Adam steps, default profile: batched {batched:.1f} s, "
          f"one at a time {single:.1f} s, speed-up {single / batched:.2f}x")


if __name__ == "__main__":
    main()
