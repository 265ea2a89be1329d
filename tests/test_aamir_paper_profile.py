"""The paper profile of Aamir et al. (torchvision VGG16 on ImageNet) in smoke form: a tiny fake ImageNet
folder, random weights (weights=None), random style features; and clean stops when data or weights miss."""

import numpy as np
import pytest
import torch
from PIL import Image

from cnnexplain import aamir, aamir_paper
from cnnexplain.data import DataUnavailableError


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
    study = aamir_paper.build_paper_study(tmp_path, n_train_per_wnid=1, n_test_per_class=1, image_size=32,
                                          weights=None, style_steps=1, texture_steps=1, extractor="random",
                                          progress=False)
    assert study.x_train.shape == (19, 3, 32, 32) and study.x_test.shape == (40, 3, 32, 32)
    assert len(study.layer_names) == 16
    y_train, y_test = study.loss_labels()
    assert set(y_train.tolist()) == {i for w in aamir_paper.PAPER_CLASSES.values() for _, i in w}
    pred = study.predictions().numpy()
    assert ((pred >= -1) & (pred < 10)).all()
    # the 16 blocks exist; score the cheapest, fc8 (fc6 alone has 103M parameters; all 16 are the GPU's job)
    from cnnexplain.hvp import parameter_blocks

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
