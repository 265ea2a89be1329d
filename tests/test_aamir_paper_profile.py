"""The paper profile of Aamir et al. (torchvision VGG16 on ImageNet) in smoke form: a tiny fake ImageNet
folder, random weights (weights=None), random style features; and clean stops when data or weights miss."""

import numpy as np
import pytest
import torch
from PIL import Image

from cnnexplain.papers.aamir import study as aamir
from cnnexplain.papers.aamir import imagenet as aamir_paper
from cnnexplain.papers.aamir import preset as aamir_paper_preset
from cnnexplain.data.sources import DataUnavailableError


def _fake_imagenet(root, n_per_wnid=2, size=40, styles=True):
    rng = np.random.default_rng(0)
    for wnids in aamir_paper.PAPER_CLASSES.values():
        for wnid, _ in wnids:
            folder = root / "imagenet" / "train" / wnid
            folder.mkdir(parents=True)
            for i in range(n_per_wnid):
                Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)).save(folder / f"{wnid}_{i}.JPEG")
    if styles:
        (root / "styles").mkdir()
        for name in aamir_paper.STYLE_PAINTINGS:
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "styles" / f"{name}.png")


def test_wnid_indices_match_torchvision_categories():
    from cnnexplain.compat import torchvision

    cats = torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta["categories"]
    expected = {"cat": ["tabby", "Persian cat"], "bird": ["goldfinch", "hummingbird"], "zebra": ["zebra"],
                "elephant": ["Indian elephant", "African elephant"], "screwdriver": ["screwdriver"],
                "chair": ["folding chair", "rocking chair", "barber chair"], "cup": ["coffee mug", "cup"],
                "toaster": ["toaster"], "bus": ["school bus", "trolleybus", "minibus"],
                "bicycle": ["mountain bike", "bicycle-built-for-two"]}
    for name, wnids in aamir_paper.PAPER_CLASSES.items():
        assert [cats[i] for _, i in wnids] == expected[name]


def test_missing_data_stops_with_a_message(tmp_path):
    with pytest.raises(DataUnavailableError, match="imagenet/train/n02123045"):
        aamir_paper.build_paper_study(tmp_path, weights=None)
    _fake_imagenet(tmp_path, n_per_wnid=2, styles=False)
    with pytest.raises(DataUnavailableError, match="styles/great_wave"):
        aamir_paper.build_paper_study(tmp_path, n_train_per_wnid=1, n_test_per_class=1, weights=None)


def test_missing_weights_stop_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(DataUnavailableError, match="vgg16-397923af.pth"):
        aamir_paper.load_vgg16("imagenet")


@pytest.mark.slow
def test_paper_path_end_to_end_smoke(tmp_path):
    torch.set_num_threads(2)
    _fake_imagenet(tmp_path, n_per_wnid=2)
    settings = dict(n_train_per_wnid=1, n_test_per_class=1, image_size=32, weights=None, style_steps=1,
                    texture_steps=1, extractor="random", progress=False, cache_root=tmp_path / "cache")
    study = aamir_paper.build_paper_study(tmp_path, **settings)
    assert not study.info["data_from_cache"] and study.cache is not None
    assert study.x_train.shape == (19, 3, 32, 32) and study.x_test.shape == (40, 3, 32, 32)
    assert len(study.layer_names) == 16
    y_train, y_test = study.loss_labels()
    assert set(y_train.tolist()) == {i for w in aamir_paper.PAPER_CLASSES.values() for _, i in w}
    pred = study.predictions().numpy()
    assert ((pred >= -1) & (pred < 10)).all()
    # the 16 blocks exist; score the cheapest, fc8 (fc6 alone has 103M parameters; all 16 are the GPU's job)
    from cnnexplain.methods.influence_functions.hvp import parameter_blocks

    names = [b.name for b in parameter_blocks(study.model, example_input=study.x_train[:1])]
    assert len(names) == 16
    scores, _, timings = aamir.compute_influence(study, n_hessian=2, cg_iterations=1, batch_size=8, progress=False,
                                                 layers=[names[-1]])
    assert scores.layers.shape == (40, 19, 1) and torch.isfinite(scores.layers).all()
    table1 = aamir.accuracy_table(pred, study.y_test.numpy(), study.conditions, study.class_names,
                                  study.true_class_probability().numpy())
    assert len(table1) == 40
    table2 = aamir.most_influential_table(scores, study, pred)
    assert set(table2.influential_class) <= set(study.class_names)
    # cached: the same settings load the images and conditions instead of redoing GrabCut and Gatys
    again = aamir_paper.build_paper_study(tmp_path, **settings)
    assert again.info["data_from_cache"] and torch.equal(again.x_test, study.x_test)
    cached, _, t2 = aamir.compute_influence(again, n_hessian=2, cg_iterations=1, batch_size=8, progress=False,
                                            layers=[names[-1]])
    assert t2.get("from_cache") and torch.equal(cached.layers, scores.layers)
    # the paper profile's solver: Nyström-preconditioned CG where the factors fit (conv1_1, 1,792 parameters),
    # plain CG where they would not (fc8, 4.1M parameters: 67 GB at rank 256), each row saying which and why
    assert aamir_paper_preset.INFLUENCE["paper"].solver == "nystrom"
    _, _, t3 = aamir.compute_influence(study, n_hessian=2, cg_iterations=1, batch_size=8, progress=False,
                                       layers=[names[0], names[-1]], solver="nystrom", damping=0.01)
    assert [(r["block"], r["method"]) for r in t3["solver"]] == [(names[0], "nystrom"), (names[-1], "cg")]
    assert "plain CG" in t3["solver"][1]["why"] and "plain CG" not in t3["solver"][0]["why"]
    # Table 3 and Fig. 6 on the paper path: object patches, group-wise accuracy, the dose from a white image
    with pytest.warns(UserWarning, match="less than half object"):  # GrabCut finds little in noise images
        patches, coverage = aamir_paper.paper_texture_patches(study, n_per_class=1)
    assert patches.images.shape == (10, 3, 32, 32) and ((coverage >= 0) & (coverage <= 1)).all()
    table3, _ = aamir.texture_patch_table(study.model, study.class_names, patches=patches, groups=study.info["groups"])
    assert len(table3) == 10 and table3.accuracy.between(0, 1).all() and table3.p_true.between(0, 1).all()
    from cnnexplain.methods.influence_functions.layerwise import LayerwiseInfluence

    white = int(np.flatnonzero(study.conditions == "white_background")[0])
    calc = LayerwiseInfluence(study.model, study.x_train[:2], y_train[:2], layers=[names[-1]], solver="cg",
                              hessian="hvp", damping=0.01, batch_size=8)
    dose, snaps = aamir.texture_dose(study, white, patches.images[1], steps=2, snapshot_every=1, calc=calc)
    assert len(dose) == len(snaps) == 3 and np.isfinite(dose.I_avg_intra).all()
    assert set(dose.predicted_class) <= set(study.class_names) | {"other"}
    # the sensitivity grid on the paper path (CG): one calculator per (λ, Hessian sample), the same blocks
    dose, _ = aamir.texture_dose(study, white, patches.images[1], steps=2, snapshot_every=1, calc=calc, n_hessian=2,
                                 cg_iterations=1, grid_dampings=(1e-2, 1e-1), n_hessian_samples=2)
    assert dose.attrs["grid"] == [aamir.grid_cell(d, s) for s in "AB" for d in (1e-2, 1e-1)]
    assert all(np.isfinite(dose[f"I_avg_intra[{c}]"]).all() for c in dose.attrs["grid"])
    other, _, _ = aamir.compute_influence(again, n_hessian=2, cg_iterations=1, batch_size=8, progress=False,
                                          layers=[names[-1]], hessian_sample=1, n_hessian_samples=2)
    assert other.layers.shape == scores.layers.shape and not torch.equal(other.layers, scores.layers)


def test_object_patches_come_from_the_mask():
    images = torch.zeros(1, 3, 16, 16)
    images[0, 0, 8:, 8:] = 1.0  # a red object in the lower-right quarter
    masks = torch.zeros(1, 16, 16, dtype=torch.bool)
    masks[0, 8:, 8:] = True
    patches, coverage = aamir_paper.object_patches(images, masks, fraction=0.5, size=8)
    assert patches.shape == (1, 3, 8, 8) and float(coverage[0]) == 1.0
    assert torch.allclose(patches[0, 0], torch.ones(8, 8)) and patches[0, 1:].abs().max() == 0
    with pytest.raises(ValueError, match="masks"):
        aamir_paper.object_patches(images, masks[0])
