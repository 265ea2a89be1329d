"""Notebook 20's pipeline (cnnexplain.papers.aamir.disturbed) at toy sizes: shapes, names and the values its
claims take."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from cnnexplain.data import world  # noqa: E402
from cnnexplain.methods import style  # noqa: E402
from cnnexplain.papers.aamir import claims, disturbed  # noqa: E402


@pytest.fixture(scope="module")
def nets():
    torch.set_num_threads(1)
    return disturbed.train_biased_nets([0.9, 0.1], [0.1, 1.0], n_train_per_class=2, epochs=1, lr=1e-3, width=2,
                                       size=32, seed=0)


def test_two_nets_their_accuracy_and_shape_bias(nets):
    models, histories, seconds = nets
    assert list(models) == ["texture_prob=0.9", "texture_prob=0.1"] and set(seconds) == set(models)
    tests = {c: world.make_dataset(1, c, seed=2, size=32, style_method="colour") for c in ("original", "textured")}
    table, acc, _ = disturbed.accuracy_per_condition(models, tests)
    assert list(acc.index) == ["original", "textured"] and list(acc.columns) == list(models)
    bias, _ = disturbed.shape_bias_table(models, 1, seed=3, size=32)
    assert ((bias.shape_bias >= 0) & (bias.shape_bias <= 1) | bias.shape_bias.isna()).all()
    for name, claim in zip(models, ("shape_bias_texture_net", "shape_bias_shape_net")):
        b = float(bias.set_index("net").shape_bias[name])
        if b == b:  # NaN when no cue-conflict image was decided by shape or texture
            assert claims.BOOK[claim].evaluate(shape_bias=b, original_accuracy=float(acc.loc["original", name])).verdict


def test_texture_transfer_and_its_dose(nets):
    models, _, _ = nets
    net = models["texture_prob=0.9"]
    white = world.make_dataset(1, "white_background", seed=2, size=32)
    features = style.vgg19_features("random", seed=0)
    fig5 = disturbed.texture_transfer(net, white, n_patches_per_class=1, steps=2, features=features, seed=0,
                                      snapshot_every=1, size=32, n=2)
    assert len(fig5["table"]) == 2 and fig5["texture_classes"] == [3, 4]
    hits = fig5["table"]["predicted = texture class"]
    outcome = claims.BOOK["fig5_transfer_predicts_texture"].evaluate(share=float(hits.mean()), n=len(hits),
                                                                     original_accuracy=0.9)
    assert outcome.ours.endswith("of 2")
    dose, _, series = disturbed.dose_series(net, fig5["result"], fig5["texture_classes"][0])
    assert len(dose) == len(series) and dose.texture_dose.notna().all() and dose.step.iat[0] == 0
    assert disturbed.dose_step_figure(dose, series, 0) is not None
