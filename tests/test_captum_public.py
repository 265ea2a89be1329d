"""cnnexplain uses other libraries only through their public API, and LRP / LIME give what they gave when they
used captum's private ``EpsilonRule`` and ``SkLearnRidge`` (the references below import those, as the library
did before; they skip once a captum release moves them)."""

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnexplain.methods.attribution import explain as A
from cnnexplain.models.cnns import GAPCNN, SmallCNN

LIB = Path(__file__).resolve().parents[1] / "lib"


def private_imports(path: Path) -> list[str]:
    """Imports of another package's private module or name (a dotted part starting with ``_``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] not in ("cnnexplain", "__future__") and any(
                    part.startswith("_") and not part.startswith("__") for part in name.split(".")):
                found.append(f"{path.relative_to(LIB)}:{node.lineno}: {name}")
    return found


def test_no_private_imports_of_other_libraries():
    found = [hit for path in sorted(LIB.rglob("*.py")) for hit in private_imports(path)]
    assert not found, "private imports (use the library's public API or our own code):\n" + "\n".join(found)


class IdentityNet(nn.Module):
    """A net with an ``nn.Identity`` (a head replaced by a no-op, as in the NeuroView backbones)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.skip = nn.Identity()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 8 * 8, 6), nn.ReLU(), nn.Linear(6, 3))

    def forward(self, x):
        return self.head(self.skip(self.features(x)))


def nets():
    torch.manual_seed(0)
    return {"small": SmallCNN(in_channels=1, num_classes=3, image_size=16).eval(),
            "gap": GAPCNN(in_channels=1, num_classes=3, width=4).eval(),
            "identity": IdentityNet().eval()}


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(3))


def reference_lrp(model, images, target, epsilon=1e-9):
    """The library's LRP as it was: captum's ε-rule put on every nn.Flatten / nn.Identity."""
    lrp_rules = pytest.importorskip("captum.attr._utils.lrp_rules")
    from captum.attr import LRP

    added = []
    for module in model.modules():
        if isinstance(module, (nn.Flatten, nn.Identity)) and not hasattr(module, "rule"):
            module.rule = lrp_rules.EpsilonRule(epsilon=epsilon)
            added.append(module)
    try:
        return LRP(model).attribute(images.clone().requires_grad_(), target=target).detach()
    finally:
        for module in added:
            if hasattr(module, "rule"):
                del module.rule


@pytest.mark.parametrize("name", ["small", "gap", "identity"])
def test_lrp_gives_what_captums_private_epsilon_rule_gave(name, images):
    model = nets()[name]
    target = torch.tensor([0, 1, 2])
    expected = reference_lrp(model, images, target)
    got = A.explain(model, images, target, "lrp")
    assert got.abs().sum() > 0
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-7), (got - expected).abs().max()
    assert not any(hasattr(m, "rule") for m in model.modules())  # the model is left as it was
    assert [type(m) for m in model.modules()] == [type(m) for m in nets()[name].modules()]


def reference_lime(model, images, target, n_samples=60, patch=4, seed=0, ridge_alpha=1.0):
    """The library's LIME as it was: captum's Lime with its private SkLearnRidge."""
    linear_model = pytest.importorskip("captum._utils.models.linear_model")
    from captum.attr import Lime

    def make(m):
        return Lime(m, interpretable_model=linear_model.SkLearnRidge(alpha=ridge_alpha))

    return A._per_image_surrogate(make, model, images, target, n_samples, "grid", patch, 50, 0.0, seed, 50)


def test_lime_gives_what_captums_private_ridge_gave(images):
    model = nets()["gap"]
    target = torch.tensor([2, 0, 1])
    expected = reference_lime(model, images, target)
    got = A.explain(model, images, target, "lime", n_samples=60, patch=4, seed=0)
    assert got.abs().sum() > 0
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7), (got - expected).abs().max()
