"""One ``check_<exercise>(answer)`` per exercise: prints right or wrong and why, returns a Result.

Every check recomputes the expected answer from the exercise's own given (:mod:`.exercises`), with the
library's implementation where there is one, so a check also ties the exercise to the code the notebook
runs. Messages never contain the expected answer: they name the idea that is missing.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from cnnexplain.teaching import exercises as ex
from cnnexplain.teaching.grading import choice, close, missing, report, same_set, NO_ANSWER

__all__ = []  # filled below: every check_* function


# --------------------------------------------------------------------------------------------- 00 tour
def check_conv_parameters(answer):
    """00.1: trainable parameters of nn.Conv2d(1, 8, kernel_size=3)."""
    layer = torch.nn.Conv2d(1, 8, kernel_size=3)
    expected = sum(p.numel() for p in layer.parameters())
    return close("00.1", answer, expected, atol=0,
                 hint="count one weight per (output channel, input channel, kernel row, kernel column), then "
                      "what each output channel adds on top",
                 diagnoses=[(layer.weight.numel(), "you counted the kernel weights; a convolution also has a bias "
                                                   "per output channel")],
                 right="kernel weights plus one bias per output channel.")


def check_accuracy(answer, seed: int = 0):
    """00.2: the share of the 20 digits whose largest logit is the true label."""
    logits, labels = ex.tour_logits(seed)
    hits = (logits.argmax(1) == labels)
    return close("00.2", answer, hits.float().mean().item(),
                 hint="the prediction is the class with the largest logit; compare it with the label of each digit "
                      "and take the share of matches",
                 diagnoses=[(hits.sum().item(), "that is a count; accuracy is a share in [0, 1]"),
                            ((logits.argmin(1) == labels).float().mean().item(),
                             "the predicted class has the *largest* logit")],
                 right="accuracy = mean of (argmax logits == label).")


def check_same_seed_same_net(answer):
    """00.3: do two SmallCNN built right after seed_everything(SEED) have identical weights?"""
    from cnnexplain.models.cnns import SmallCNN
    from cnnexplain.seeding import seed_everything

    seed_everything(0)
    a = SmallCNN()
    seed_everything(0)
    b = SmallCNN()
    same = all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    if isinstance(answer, str) and answer.strip().lower() in ("true", "false"):
        answer = answer.strip().lower() == "true"
    return choice("00.3", answer, same, [True, False],
                  hint="initial weights are drawn from torch's random generator; think about what "
                       "seed_everything does to it",
                  right="the same seed gives the same initial weights (and with the library's deterministic "
                        "loop, the same trained net).")


# ------------------------------------------------------------------------------ 10 synthetic (Jung et al.)
def check_influential_entry(answer, seed: int = 0):
    """10.1: J_{i=2, j=1} of the given dense layer."""
    from cnnexplain.methods.influential_scores.reference import dense_matrix

    weight, values = ex.jung_layer(seed)
    matrix = dense_matrix(weight.numpy().astype(np.float64), values.numpy().astype(np.float64))
    contributions = weight[1] * values  # w_{i,1} L_i for every input i
    transposed = (weight[2, 1] * values[1] / (weight[2] * values).abs().sum()).item()
    return close("10.1", answer, matrix[2, 1],
                 hint="numerator: the weight from input node i=2 to output node j=1 times L_2; denominator: the "
                      "same product summed in absolute value over every input node i",
                 diagnoses=[((contributions[2] / contributions.sum()).item(),
                             "the denominator sums absolute values |w_{i,j} L_i|, so that scores stay in [-1, 1]"),
                            (transposed, "PyTorch stores a Linear weight as (out, in): w_{i,j} from input i to "
                                         "output j is weight[j, i]"),
                            (weight[1, 2].item(), "the score is a weight times the node value, normalised")],
                 right="J_{2,1} = w_{2,1} L_2 / Σ_i |w_{i,1} L_i|, as the reference implementation computes.")


def check_toy_score(answer):
    """10.2: influential score of i2 on h1 in the toy min network at input (3, 1)."""
    from cnnexplain.methods.influential_scores.fast import influential_scores
    from cnnexplain.papers.jung.synthetic import toy_min_network

    expected = influential_scores(toy_min_network(), ex.toy_input(), source="input", target=2)[0][0, 1].item()
    return close("10.2", answer, expected,
                 hint="h1 = ReLU(i1 − i2): its two contributions are 1·i1 and −1·i2; divide the one of i2 by the "
                      "sum of their absolute values",
                 diagnoses=[(-expected, "check the sign: i2 enters h1 with weight −1"),
                            (-1 / 3, "that is the score at the paper's input (2, 1); this exercise uses (3, 1)")],
                 right="−1·1 / (|1·3| + |−1·1|): i2 pushes h1 down, with a quarter of the total weight.")


def check_scale_invariance(answer):
    """10.3: what happens to the toy net's input scores when the input is multiplied by 10?"""
    from cnnexplain.methods.influential_scores.fast import influential_scores
    from cnnexplain.papers.jung.synthetic import toy_min_network

    net, x = toy_min_network(), ex.toy_input()
    a = influential_scores(net, x, source="input", target="output")
    b = influential_scores(net, 10 * x, source="input", target="output")
    expected = "unchanged" if torch.allclose(a, b) else ("scaled" if torch.allclose(10 * a, b) else "other")
    return choice("10.3", answer, expected, ["unchanged", "scaled", "sign_flipped"],
                  hint="every node value L of a bias-free ReLU net scales with the input; look at what a ratio "
                       "w L / Σ|w L| does with a common factor",
                  right="a bias-free ReLU net is positively homogeneous: every L scales by 10 and the factor "
                        "cancels in each normalised ratio. (With biases, as in jung_mlp, it would not.)")


# ----------------------------------------------------------------------------------------------- 11 MNIST
def check_filter_scores(answer, seed: int = 0):
    """11.1: filter scores of the given conv-layer scores, one per filter (shape (5,))."""
    from cnnexplain.methods.influential_scores.fast import filter_scores

    scores = ex.conv_layer_scores(seed)
    return close("11.1", answer, filter_scores(scores)[0, 0].numpy(),
                 hint="a filter's score collects the scores of all its nodes: reduce over the two spatial "
                      "dimensions only",
                 diagnoses=[(scores.abs().sum(dim=(-2, -1))[0, 0].numpy(),
                             "keep the signs: a node that argues against the class lowers its filter's score"),
                            (scores.mean(dim=(-2, -1))[0, 0].numpy(), "the paper sums the scores (Fig. 7a), "
                                                                      "it does not average them")],
                 right="the filter score is the sum of the filter's node scores over its map.")


def check_positive_share(answer, seed: int = 0):
    """11.2: positive share Σs⁺ / Σ|s| of the given input-score map."""
    s = ex.input_score_map(seed)
    return close("11.2", answer, (s.clamp_min(0).sum() / s.abs().sum()).item(),
                 hint="numerator: only the positive scores (red); denominator: the total magnitude",
                 diagnoses=[((s.clamp_min(0).sum() / s.sum()).item(), "divide by Σ|s|, not by the signed sum"),
                            (((s > 0).float().mean()).item(), "that counts pixels; the share weighs each score "
                                                              "by its size")],
                 right="a share in [0, 1]: 1 would be all red.")


# ------------------------------------------------------------------------------------- 12 real vs fake
def check_top_fraction_mask(answer, seed: int = 0):
    """12.1: boolean (16, 16) mask of the 5 % highest channel-summed scores."""
    from cnnexplain.papers.jung.plots import top_fraction_mask

    summed = ex.rgb_scores(seed).sum(0).numpy()
    expected = top_fraction_mask(summed, 0.05)
    if missing(answer):
        return report("12.1", False, NO_ANSWER)
    mask = np.asarray(answer.detach().cpu() if hasattr(answer, "detach") else answer)
    if mask.shape != expected.shape:
        return report("12.1", False, f"your mask has shape {mask.shape}; sum the channels first to get one "
                                     f"{expected.shape} map")
    mask = mask.astype(bool)
    if np.array_equal(mask, expected):
        return report("12.1", True, "the red dots of Fig. 8 are the highest (most positive) summed scores.")
    if np.array_equal(mask, top_fraction_mask(np.abs(summed), 0.05)):
        return report("12.1", False, "take the highest (most positive) scores, not the largest magnitudes: "
                                     "the red dots are evidence *for* the class")
    if mask.sum() != expected.sum():
        return report("12.1", False, f"your mask marks {int(mask.sum())} pixels; 5 % of {mask.size} pixels "
                                     "rounds to a different count")
    return report("12.1", False, "right number of pixels, wrong ones: sum the three channels, then keep the "
                                 "largest sums")


def check_channel_shares(answer, seed: int = 0):
    """12.2: each colour channel's share of the total score magnitude (3 values)."""
    s = ex.rgb_scores(seed)
    per = s.abs().sum(dim=(1, 2))
    return close("12.2", answer, (per / per.sum()).numpy(),
                 hint="per channel the sum of |score|, divided by the total over the three channels",
                 diagnoses=[((s.sum(dim=(1, 2)) / s.sum()).numpy(), "use magnitudes |s|: signed sums cancel")],
                 right="the shares sum to 1; a channel with a larger share carries more of the evidence.")


# -------------------------------------------------------------------------------- 20 disturbed data set
def check_shape_bias(answer, seed: int = 0):
    """20.1: shape bias of the given cue-conflict decisions."""
    from cnnexplain.methods.shape_bias import shape_bias

    pred, shape, texture = ex.cue_conflict_decisions(seed)
    expected = shape_bias(pred, shape, texture).shape_bias
    conflict = shape != texture
    return close("20.1", answer, expected,
                 hint="shape decisions / (shape + texture decisions), counted over the cue-conflict images only",
                 diagnoses=[((pred == shape)[conflict].mean(), "predictions of a third class are neither shape "
                                                               "nor texture decisions: leave them out of the denominator"),
                            ((pred == shape).sum() / ((pred == shape) | (pred == texture)).sum(),
                             "leave out the images whose shape and texture agree: they are not cue conflicts")],
                 right="Geirhos et al.'s shape bias: 1 = always the shape, 0 = always the texture.")


def check_gram_matrix(answer, seed: int = 0):
    """20.2: Gram matrix (4, 4) of the given feature maps, divided by H·W."""
    from cnnexplain.methods.style import gram_matrix

    f = ex.feature_map(seed)
    expected = gram_matrix(f)[0].numpy()
    flat = f.reshape(4, -1)
    return close("20.2", answer, expected,
                 hint="flatten the maps to F of shape (C, H·W); the Gram matrix compares every pair of channels: "
                      "F times its transpose, normalised by the number of positions",
                 diagnoses=[((flat @ flat.T).numpy(), "normalise by the number of positions H·W (as "
                                                      "cnnexplain.methods.style.gram_matrix does)"),
                            ((flat @ flat.T / flat.numel()).numpy(), "divide by H·W, not by C·H·W")],
                 right="G = F Fᵀ / (H·W): channel co-activations, blind to where they happen (Gatys Eq. 3).")


def check_white_background(answer, seed: int = 0):
    """20.3: the given image with every pixel outside the mask set to white."""
    from cnnexplain.methods.disturb import white_background

    image, mask = ex.image_and_mask(seed)
    return close("20.3", answer, white_background(image, mask).numpy(),
                 hint="keep the pixels where the mask is True, set the others (all three channels) to white",
                 diagnoses=[(white_background(image, ~mask).numpy(), "the mask is True on the *object*: keep "
                                                                     "those pixels"),
                            (torch.where(mask, image, torch.zeros(())).numpy(), "white is 1.0 for images in [0, 1]")],
                 right="the white-background condition of the paper's Fig. 1.")


# --------------------------------------------------------------------------------- 21 layer-wise influence
def check_inverse_hvp(answer):
    """21.1: s = (H + λI)⁻¹ g for the given 2x2 Hessian."""
    from cnnexplain.methods.influence_functions.hvp import DenseBlock
    from cnnexplain.methods.influence_functions.solvers import ExactSolver

    hessian, g, damping = ex.hessian_2x2()
    expected = ExactSolver().solve(DenseBlock("block", hessian), g, damping)[0].numpy()
    return close("21.1", answer, expected,
                 hint="s solves the linear system (H + λI) s = g: solve it, do not multiply by the matrix",
                 diagnoses=[(torch.linalg.solve(hessian, g).numpy(), "add the damping λI to H before solving"),
                            (((hessian + damping * torch.eye(2)) @ g).numpy(), "that multiplies by H + λI; the "
                                                                               "influence needs its inverse"),
                            ((g / (hessian.diagonal() + damping)).numpy(), "that inverts only the diagonal; the "
                                                                           "off-diagonal curvature matters")],
                 right="the inverse-HVP the library's ExactSolver computes for one layer's block.")


def check_paper_sign_score(answer):
    """21.2: the paper-sign influence S = ∇L(train)ᵀ (H + λI)⁻¹ ∇L(test) of one training image."""
    hessian, damping, g_test, g_train = ex.influence_pair()
    s = torch.linalg.solve(hessian + damping * torch.eye(2, dtype=hessian.dtype), g_test)
    expected = (g_train @ s).item()
    return close("21.2", answer, expected,
                 hint="first the inverse-HVP of the test gradient, then its dot product with the training "
                      "gradient; mind the paper's sign convention",
                 diagnoses=[(-expected, "that is Eq. 5's literal sign (I_up,loss); the analysis uses S = −Eq. 5, "
                                        "high = helpful"),
                            ((g_train @ torch.linalg.solve(hessian, g_test)).item(), "include the damping λ")],
                 right="S > 0: up-weighting this training image would lower the test loss (it helps).")


def check_intra_class_average(answer, seed: int = 0):
    """21.3: I_avg of the test image: the mean score over the training images of its own class."""
    from cnnexplain.methods.influence_functions.layerwise import intra_class_average

    scores, train_labels, test_label = ex.class_scores(seed)
    expected = intra_class_average(scores[None], torch.tensor([test_label]), train_labels)[0].item()
    return close("21.3", answer, expected,
                 hint="average only the scores of training images whose label equals the test image's label",
                 diagnoses=[(scores.mean().item(), "that averages over every training image; I_avg is intra-class"),
                            (scores[train_labels == test_label].sum().item(), "I_avg is a mean: divide the class's total by its number "
                                                                                  "of training images")],
                 right="the intra-class I_avg of Fig. 3–4.")


# --------------------------------------------------------------------------------------- 22 texture dose
def check_texture_dose(answer):
    """22.1: the texture dose after every step (9 values, index 0 = before the first step)."""
    from cnnexplain.methods.style import StyleResult

    losses = ex.style_loss_history()
    expected = StyleResult(image=torch.zeros(1), history={"style": losses}).dose()
    ratio = [v / losses[0] for v in losses]
    return close("22.1", answer, expected,
                 hint="the dose is the share of the initial style loss that has been removed so far",
                 diagnoses=[(ratio, "that is the share that *remains*; the dose is the share removed (it starts at 0)"),
                            ([losses[0] - v for v in losses], "make it a share of the initial loss")],
                 right="StyleResult.dose(): 0 before the transfer, towards 1 as the texture takes over.")


def check_flip_step(answer):
    """22.2: the first step at which the texture's class is more probable than the content's class."""
    p_content, p_texture = ex.dose_probabilities()
    expected = int(np.argmax(p_texture > p_content))
    return close("22.2", answer, expected, atol=0,
                 hint="compare the two probabilities step by step (index 0 = before any transfer) and take the "
                      "first index where the texture wins",
                 diagnoses=[(expected + 1, "steps are indexed from 0, like the arrays"),
                            (expected - 1, "at that step the content's class still wins")],
                 right="the prediction flips there: the paper saw the flip after about ten transfer iterations.")


# --------------------------------------------------------------------------------------- 23 clustering
def check_correlation_distance(answer, seed: int = 0):
    """23.1: Pearson correlation distance 1 − r of the two given profiles."""
    from scipy.spatial.distance import correlation, euclidean

    a, b = ex.layer_vectors(seed)
    r = np.corrcoef(a, b)[0, 1]
    return close("23.1", answer, correlation(a, b),
                 hint="compute Pearson's r of the two profiles and turn it into a distance (0 for identical "
                      "shapes, 2 for opposite ones)",
                 diagnoses=[(r, "that is the correlation itself; the clustering needs a distance"),
                            (euclidean(a, b), "that is the Euclidean distance; the paper compares the profiles' "
                                              "shapes by correlation distance")],
                 right="correlation distance ignores a profile's offset and scale, only its shape counts.")


def check_three_clusters(answer, seed: int = 0):
    """23.2: which two conditions share a cluster when the four profiles are cut into 3 clusters?"""
    from scipy.cluster.hierarchy import fcluster, linkage

    profiles = ex.condition_profiles(seed)
    names = list(profiles)
    labels = fcluster(linkage(np.stack([profiles[n] for n in names]), method="average", metric="correlation"),
                      3, criterion="maxclust")
    pairs = [{n for n, lab in zip(names, labels) if lab == k} for k in set(labels)]
    expected = next(p for p in pairs if len(p) == 2)
    return same_set("23.2", answer, expected, names,
                    hint="cluster the four profiles by average linkage on correlation distance and cut the tree into 3 "
                         "clusters, or reason from the profiles' shapes (not their offsets)",
                    right="the paper's {original, white background} cluster: the background barely changes "
                          "the influence profile.")


# ----------------------------------------------------------------------------------------- 24 Shapley
def _shapley(game, player, players=(0, 1, 2)):
    n = len(players)
    others = [p for p in players if p != player]
    total = 0.0
    for size in range(n):
        for coalition in itertools.combinations(others, size):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            total += weight * (game[frozenset(coalition) | {player}] - game[frozenset(coalition)])
    return total


def check_shapley_value(answer):
    """24.1: exact Shapley value of player 0 in the given 3-player game."""
    game = ex.three_player_game()
    return close("24.1", answer, _shapley(game, 0),
                 hint="average player 0's marginal contribution v(S ∪ {0}) − v(S) over all 3! orders in which "
                      "players can join (equivalently weight each S by |S|!(n−|S|−1)!/n!)",
                 diagnoses=[(game[frozenset({0})] - game[frozenset()], "that is only the contribution to the "
                                                                       "empty coalition; average over all orders"),
                            (game[frozenset({0, 1, 2})] - game[frozenset({1, 2})], "that is only the contribution "
                                                                                   "when 0 joins last"),
                            (np.mean([game[frozenset(c) | {0}] - game[frozenset(c)]
                                      for c in [(), (1,), (2,), (1, 2)]]),
                             "the four coalitions are not equally likely: weight them by how many orders produce them")],
                 right="the Shapley value: player 0's fair share of the game's value.")


def check_shapley_sum(answer):
    """24.2: the sum of all three players' Shapley values."""
    game = ex.three_player_game()
    expected = game[frozenset({0, 1, 2})] - game[frozenset()]
    return close("24.2", answer, expected,
                 hint="the efficiency axiom: the values share out what the full coalition gains over the empty one",
                 diagnoses=[(game[frozenset({0, 1, 2})], "what does the empty coalition (every region hidden) "
                                                         "already get?")],
                 right="efficiency: Σ φ_i = v(all) − v(∅), the 'local accuracy' a Shapley map inherits.")


# ---------------------------------------------------------------------------------------- 30 NeuroView
def check_soft_vq_code(answer, seed: int = 0):
    """30.1: max-pooled soft-VQ codes (2, 3) of the given pre-activations."""
    from cnnexplain.methods.neuroview import pool_code, soft_vq

    z = ex.pre_activations(seed)
    return close("30.1", answer, pool_code(soft_vq(z), "max").numpy(),
                 hint="the code of a unit at a position is the probability it is on, sigmoid(z); then reduce "
                      "every channel's map by its maximum",
                 diagnoses=[(pool_code(soft_vq(z), "mean").numpy(), "this exercise uses max pooling over space"),
                            (z.clamp_min(0).amax(dim=(2, 3)).numpy(), "ReLU gives the hard code's value; NeuroView's "
                                                                      "soft code is the sigmoid")],
                 right="q(z) = sigmoid(z), max over space: one number in (0, 1) per unit (Fig. 1d).")


def check_folded_classifier(answer, seed: int = 0):
    """30.2: (W', b') with W' q + b' = W (q − μ)/s + b for every code q."""
    W, b, mu, s = ex.standardized_classifier(seed)
    if missing(answer):
        return report("30.2", False, NO_ANSWER)
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return report("30.2", False, "give a pair (W_folded, b_folded)")
    W2, b2 = (torch.as_tensor(np.asarray(a.detach() if hasattr(a, "detach") else a), dtype=torch.float64)
              for a in answer)
    if W2.shape != W.shape or b2.shape != b.shape:
        return report("30.2", False, f"W' must have W's shape {tuple(W.shape)} and b' b's shape {tuple(b.shape)}")
    q = torch.rand(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    want = ((q - mu) / s) @ W.T + b
    got = q @ W2.T + b2
    if torch.allclose(got, want, atol=1e-8):
        return report("30.2", True, "the folded weights act on the raw codes in [0, 1]: Eq. 2 exactly.")
    if torch.allclose(q @ W2.T, ((q - mu) / s) @ W.T + (W / s) @ mu, atol=1e-8):
        return report("30.2", False, "W' is right; expand W (q − μ)/s + b and collect what does not depend on q")
    return report("30.2", False, "write W (q − μ)/s + b as (something) q + (something else): the first part divides "
                                 "each unit's column by its s")


def check_neuroview_units(answer):
    """30.3: how many inputs has the NeuroView classifier built on exercises.tiny_backbone()?"""
    from cnnexplain.methods.neuroview import NeuroView

    expected = NeuroView(ex.tiny_backbone(), 2, (3, 8, 8)).n_units
    return close("30.3", answer, expected, atol=0,
                 hint="NeuroView reads one pooled code per unit (filter) of every convolutional layer; the plain "
                      "net's head is dropped",
                 diagnoses=[(expected + 2, "the plain network's dense head is removed, its outputs are not units"),
                            (6 * 4 * 4 + 4 * 8 * 8, "pooling over space leaves one code per filter, not per position")],
                 right="one input per convolutional unit, so every unit gets its own class weights.")


# --------------------------------------------------------------------------------- 31 NeuroView weights
def check_top_weight_shares(answer, seed: int = 0):
    """31.1: share of each of the 3 layers among the class's 6 largest weights."""
    from cnnexplain.methods.neuroview import top_weight_layer_shares

    w, layer = ex.class_weight_row(seed)
    boundaries = np.searchsorted(layer, [0, 1, 2])
    expected = top_weight_layer_shares(w[None], boundaries, fraction=0.2, sign="pos")
    top_abs = top_weight_layer_shares(w[None], boundaries, fraction=0.2, sign="abs")
    return close("31.1", answer, expected,
                 hint="take the 6 largest weights (20 % of 30), look up each one's layer and count the share per layer",
                 diagnoses=[(top_abs, "this exercise ranks the largest weights (most positive), not the largest "
                                      "magnitudes"),
                            (np.bincount(layer, minlength=3) / 30, "that is each layer's share of *all* units (what "
                                                                   "chance would give)")],
                 right="compare with the layers' shares of units (6/30, 10/30, 14/30) to see where the class leans.")


def check_unit_iou(answer, seed: int = 0):
    """31.2: IoU of the unit's thresholded map with the concept mask."""
    unit, threshold, concept = ex.unit_map_and_concept(seed)
    on = unit > threshold
    inter, union = (on & concept).sum(), (on | concept).sum()
    return close("31.2", answer, inter / union,
                 hint="threshold the map (values above the threshold are 'on'), then intersection over union "
                      "with the concept mask",
                 diagnoses=[(inter / concept.sum(), "divide by the union, not by the concept's area"),
                            (inter / on.sum(), "divide by the union, not by the unit's area")],
                 right="network dissection's IoU (Bau et al.): the unit is labelled with its best concept.")


# -------------------------------------------------------------------------------- 32 NeuroView case studies
def check_zero_green(answer, seed: int = 0):
    """32.1: the given images with the green channel set to zero."""
    from cnnexplain.methods.neuroview import zero_channel

    images = ex.rgb_batch(seed)
    return close("32.1", answer, zero_channel(images, "green").numpy(),
                 hint="images are (N, C, H, W) with channels ordered R, G, B: zero one channel of every image, "
                      "keep the others",
                 diagnoses=[(zero_channel(images, "red").numpy(), "channel 0 is red; green is the next one"),
                            (zero_channel(images[:, [1, 0, 2]], "red")[:, [1, 0, 2]].numpy() * 0,
                             "zero only one channel")],
                 right="Table 2's perturbation: the classes that need green lose accuracy.")


def check_view_mean_weights(answer, seed: int = 0):
    """32.2: mean weight per view (3 classes x 4 views) of the multi-view classifier."""
    W = ex.multiview_weights(seed)
    return close("32.2", answer, W.reshape(3, 4, 5).mean(-1).numpy(),
                 hint="the 20 units are concatenated view after view (5 units of view 0, then view 1, …): group "
                      "them per view and average",
                 diagnoses=[(W.reshape(3, 5, 4).mean(1).numpy(), "the units are concatenated view after view, "
                                                                 "not interleaved"),
                            (W.reshape(3, 4, 5).sum(-1).numpy(), "a view's mean weight: divide the sum by the view's number of units")],
                 right="Fig. 5's per-view mean weight: compare views within one class.")


# ---------------------------------------------------------------------------------------- 40 taxonomy
def check_needs_internals(answer):
    """40.1: which of exercises.METHOD_CHOICES need the model's internals (are not model-agnostic)?"""
    from cnnexplain.methods.attribution.explain import METHODS

    expected = {m for m in ex.METHOD_CHOICES if METHODS[m].needs_internals}
    return same_set("40.1", answer, expected, ex.METHOD_CHOICES,
                    hint="a method is model-agnostic when it only queries the model's outputs (forward passes); "
                         "gradients, layers and activations are internals",
                    right="the registry's needs_internals, which notebook 42 measures on a black box.")


def check_method_family(answer):
    """40.2: the family of each of 'occlusion', 'lime', 'gradcam', 'saliency' in the registry."""
    from cnnexplain.methods.attribution.explain import METHODS

    names = ["occlusion", "lime", "gradcam", "saliency"]
    expected = {m: METHODS[m].family for m in names}
    families = sorted({info.family for info in METHODS.values()})
    if missing(answer):
        return report("40.2", False, NO_ANSWER)
    if not isinstance(answer, dict) or set(answer) != set(names):
        return report("40.2", False, f"give a dict with the keys {names}")
    unknown = [v for v in answer.values() if v not in families]
    if unknown:
        return report("40.2", False, f"the families are {families}")
    wrong = [m for m in names if answer[m] != expected[m]]
    if not wrong:
        return report("40.2", True, "perturbation methods hide parts of the input, surrogates fit a simple model, "
                                    "gradients and CAMs read the network.")
    return report("40.2", False, f"{len(wrong)} of 4 are in another family; ask of each: does it perturb the input, "
                                 "fit a surrogate model, take a gradient, or weight activation maps?")


# ------------------------------------------------------------------------------------------ 41 gallery
def check_gradient_x_input(answer, seed: int = 0):
    """41.1: gradient × input for the given linear model, image and class (shape (1, 1, 2, 3))."""
    from cnnexplain.methods.attribution.explain import explain

    model, x, target = ex.linear_model(seed)
    expected = explain(model, x, torch.tensor([target]), method="gradient_x_input").numpy()
    w = model[1].weight.detach()[target].reshape(x.shape)
    return close("41.1", answer, expected,
                 hint="for a linear score S_c(x) = w_c·x + b_c the gradient is w_c; multiply it element-wise by x",
                 diagnoses=[(w.numpy(), "that is the gradient (saliency); gradient × input multiplies it by x"),
                            ((model[1].weight.detach()[0].reshape(x.shape) * x).numpy(), "explain class 2, the "
                                                                                         "target, not class 0")],
                 right="on a linear model gradient × input is exact: its sum is S_c(x) − b_c.")


def check_ig_sum(answer, seed: int = 0):
    """41.2: the sum of integrated-gradients attributions for the class, with a zero baseline."""
    from cnnexplain.methods.attribution.explain import explain

    model, x, target = ex.linear_model(seed)
    with torch.no_grad():
        delta = (model(x)[0, target] - model(torch.zeros_like(x))[0, target]).item()
    measured = explain(model, x, torch.tensor([target]), method="integrated_gradients").sum().item()
    assert abs(measured - delta) < 1e-4 * max(1.0, abs(delta))
    with torch.no_grad():
        score = model(x)[0, target].item()
    return close("41.2", answer, delta,
                 hint="completeness: the attributions add up to the change of the class score between the "
                      "baseline and the image",
                 diagnoses=[(score, "subtract the score of the baseline (the all-zero image): the bias is in both")],
                 right="IG's completeness, which notebook 42 measures as the 'locally additive' column.")


# ---------------------------------------------------------------------------------- 42 measured Table 1
def check_deletion_auc(answer):
    """42.1: the area under the given deletion curve (trapezoid rule)."""
    from cnnexplain.methods.attribution.metrics import curve_auc

    f, curve = ex.deletion_curve_data()
    return close("42.1", answer, float(curve_auc(f, curve)),
                 hint="integrate the probability over the deleted fraction with the trapezoid rule; the "
                      "fractions are not evenly spaced",
                 diagnoses=[(curve.mean(), "the fractions are not evenly spaced: a plain mean is not the area"),
                            (np.trapezoid(f, curve), "integrate the curve over the fractions (y first, then x)")],
                 right="low deletion AUC = the probability falls fast = a faithful ranking of pixels.")


def check_completeness_error(answer, seed: int = 0):
    """42.2: relative completeness error |Σa − (S(x) − S(x̄))| / |S(x) − S(x̄)|."""
    a, s_x, s_base = ex.completeness_data(seed)
    delta = s_x - s_base
    expected = abs(a.sum().item() - delta) / abs(delta)
    return close("42.2", answer, expected,
                 hint="compare the attributions' total with the change of the class score from the baseline to the "
                      "image, relative to that change",
                 diagnoses=[(abs(a.sum().item() - s_x) / abs(s_x), "the reference is S(x) − S(baseline), not S(x)"),
                            (abs(a.sum().item() - delta), "make it relative: divide by |S(x) − S(baseline)|")],
                 right="the Table 1 'locality' rule: locally additive ⇔ median error ≤ 5 %.")


def check_sanity_rank_correlation(answer, seed: int = 0):
    """42.3: Spearman rank correlation of |before| and |after| (flattened)."""
    from scipy.stats import pearsonr, spearmanr

    before, after = ex.two_maps(seed)
    a, b = np.abs(before).ravel(), np.abs(after).ravel()
    return close("42.3", answer, spearmanr(a, b).statistic,
                 hint="rank correlation (Spearman) of the absolute values, both maps flattened",
                 diagnoses=[(spearmanr(before.ravel(), after.ravel()).statistic, "use absolute values, as the "
                                                                                 "sanity check does"),
                            (pearsonr(a, b).statistic, "rank correlation (Spearman), not Pearson")],
                 right="near 1 = the map ignored the randomization; a map that explains the model decorrelates.")


# --------------------------------------------------------------------------- 50 influence vs retraining
def check_predicted_removal(answer):
    """50.1: Koh & Liang's predicted change of the test loss when the training point is removed."""
    from cnnexplain.methods.influence_functions.layerwise import predicted_removal_change

    hessian, g_test, g_train, n = ex.removal_problem()
    i_up = -(g_test @ torch.linalg.solve(hessian, g_train))  # I_up,loss (Koh & Liang Eq. 2)
    expected = predicted_removal_change(i_up, n).item()
    return close("50.1", answer, expected, rtol=1e-3, atol=1e-9,
                 hint="removing one of n points is up-weighting it by ε = −1/n: multiply I_up,loss by ε",
                 diagnoses=[(-expected, "check the sign: removal is ε = −1/n"),
                            (expected * n, "scale by 1/n: one of n points is removed"),
                            (i_up.item(), "that is I_up,loss itself; the removal is ε = −1/n of it")],
                 right="ΔL ≈ (1/n) ∇L(test)ᵀ H⁻¹ ∇L(train).")


def check_pearson(answer, seed: int = 0):
    """50.2: Pearson r of predicted vs actual loss changes."""
    from scipy.stats import pearsonr, spearmanr

    predicted, actual = ex.predicted_and_actual(seed)
    return close("50.2", answer, pearsonr(predicted, actual).statistic,
                 hint="Fig. 2 reports the linear (Pearson) correlation coefficient of the two arrays",
                 diagnoses=[(spearmanr(predicted, actual).statistic, "that is Spearman's rank correlation; Fig. 2 "
                                                                     "reports Pearson's r")],
                 right="Koh & Liang report r ≈ 0.86–0.99 on their convex and CNN examples.")


def check_damping_effect(answer):
    """50.3: do the predicted changes shrink or grow in magnitude when the damping λ grows?"""
    hessian, g_test, g_train, n = ex.removal_problem()

    def size(damping):
        return abs((g_test @ torch.linalg.solve(hessian + damping * torch.eye(2, dtype=hessian.dtype), g_train)).item())

    expected = "shrink" if size(1.0) < size(0.0) else "grow"
    return choice("50.3", answer, expected, ["shrink", "grow", "unchanged"],
                  hint="adding λI raises every eigenvalue of H; think about what that does to H⁻¹",
                  right="(H + λI)⁻¹ has smaller eigenvalues 1/(h + λ): damping shrinks the predictions (and trades "
                        "accuracy for a stable solve).")


# ---------------------------------------------------------------------------------- 25 retrain by layer
def check_departure_ranking(answer, seed: int = 0):
    """25.1: the layers (0-based) ranked by standardised departure of textured from original, largest first."""
    from cnnexplain.papers.aamir.retrain import layer_departure

    original, textured = ex.layer_scores_two_conditions(seed)
    features = np.concatenate([original, textured])
    conditions = ["original"] * len(original) + ["textured"] * len(textured)
    table = layer_departure(features, conditions, [f"l{i}" for i in range(original.shape[1])])
    expected = table.sort_values("rank").layer_index.to_numpy()
    raw = np.argsort(-np.abs(textured.mean(0) - original.mean(0)))
    return close("25.1", answer, expected, atol=0,
                 hint="per layer: the difference of the two conditions' means, divided by the pooled standard "
                      "deviation sqrt((var_original + var_textured) / 2); rank by its absolute value, largest first",
                 diagnoses=[(raw, "that ranks the raw differences: layers whose scores are larger in scale win; "
                                  "divide by the pooled standard deviation first"),
                            (expected[::-1].copy(), "largest departure first, not last")],
                 right="layer_departure(): the standardised departure makes layers of different score scales comparable.")


def check_beyond_spread(answer):
    """25.2: does the top-k mean exceed the random-k mean by more than the two standard deviations summed?"""
    top, random = ex.arm_shape_biases()
    gap = top.mean() - random.mean()
    expected = bool(gap > top.std(ddof=1) + random.std(ddof=1))
    if isinstance(answer, str) and answer.strip().lower() in ("true", "false"):
        answer = answer.strip().lower() == "true"
    if isinstance(answer, (np.bool_,)):
        answer = bool(answer)
    return choice("25.2", answer, expected, [True, False],
                  hint="compare the gap of the means with the spread: the sum of the two arms' standard deviations "
                       "(ddof=1), not the gap with zero",
                  right="a higher mean is not enough: the random draws spread as widely as the gap, so the ranking "
                        "has not shown it picks better layers (the rule of notebook 25).")


__all__ = sorted(name for name in globals() if name.startswith("check_"))
