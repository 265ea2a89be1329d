"""The claims of Aamir, Tamosiunaite & Wörgötter 2023, each a rule written before the data (:mod:`cnnexplain.claims`).

One owner per claim: notebook 20 its own two nets (shape bias, Fig. 5's texture transfer); 21 Table 1,
Fig. 2 / Table 2, Fig. 3, 4, 9 and the layer-wise vs total comparison; 22 Table 3 and Fig. 6; 23 Fig. 8;
24 Fig. 10; 25 (beyond the paper) the conclusion that layer-wise influence says which layers to retrain.

Every INFLUENCE claim also needs a net that has fit its training set (:data:`TRAIN_ACCURACY_FLOOR`) and is
judged on the sensitivity grid of damping λ × disjoint Hessian samples
(:func:`cnnexplain.claims.combine_grid` through ``out.judge(rule, grid=…)``): reproduced only where it holds
in every cell.

Precondition of every claim: the network has learned the task the paper's VGG16 had learned. The paper's
VGG16 classified its original images at 50–97 % (Table 1), five to ten times the chance level of its 10
classes; :data:`ORIGINAL_ACCURACY_FLOOR` = 0.5 is that lower end. Below it a claim is "not checked":
accuracies, influence scores and Shapley maps of a net that has not learned the originals say nothing about
the paper's net.
"""

from __future__ import annotations

import math

from cnnexplain.claims import (NOT_CHECKED, NOT_REPRODUCED, REPRODUCED, TWO_WAY, ClaimBook, Outcome, below_floor,
                               graded, not_checked)

BOOK = ClaimBook("aamir", "Aamir, Tamosiunaite & Wörgötter 2023")

ORIGINAL_ACCURACY_FLOOR = 0.5
"""Original-condition test accuracy a net needs before any claim is checked (the paper's lowest class: 50 %)."""
FLOOR = (f"not checked if the net's original-condition test accuracy < {ORIGINAL_ACCURACY_FLOOR} (the paper's "
         "VGG16: 50-97 % on originals, chance 0.1)")
TWO_WAY_CHECKED = TWO_WAY + (NOT_CHECKED,)

TRAIN_ACCURACY_FLOOR = 0.95
"""Training accuracy (eval mode, on the training set) the net needs before an INFLUENCE claim is checked:
influence functions linearise around a minimum θ̂ of the training loss, and a net that has not fit its
training set is not at one (the issue: 69.5 % training accuracy, loss still falling)."""
INFLUENCE_FLOOR = (FLOOR + f"; not checked if the net's training accuracy (eval mode) < {TRAIN_ACCURACY_FLOOR} "
                   "(influence assumes θ̂ is a minimum of the training loss); judged on the sensitivity grid "
                   "(damping λ × Hessian sample): reproduced only if it holds in every cell, partly if in some, "
                   "not reproduced if in none")


def _floor(original_accuracy: float, train_accuracy: float | None = None,
           what: str = "original-condition test accuracy") -> Outcome | None:
    if (o := below_floor(what, original_accuracy, ORIGINAL_ACCURACY_FLOOR)):
        return o
    if train_accuracy is not None:
        return below_floor("training accuracy (eval mode)", train_accuracy, TRAIN_ACCURACY_FLOOR)
    return None


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


# ------------------------------------------------------------------------------------------ notebook 20

@BOOK.rule("shape_bias_texture_net", owner="20_disturbed_dataset", source="§5 (Geirhos et al. 2019)",
           statement="a net trained where the texture is the reliable cue (texture probability 0.9, shape 0.1) "
                     "classifies most cue-conflict images by texture: the texture bias the paper finds in VGG16",
           paper="texture-biased (shape bias < 0.5)",
           quantity="shape bias = shape decisions / (shape + texture decisions) on cue-conflict images",
           criterion="reproduced if shape bias < 0.5; not reproduced otherwise; " + FLOOR,
           verdicts=TWO_WAY_CHECKED)
def shape_bias_texture_net(shape_bias: float, original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    return graded(round(shape_bias, 3), reproduced=shape_bias < 0.5)


@BOOK.rule("shape_bias_shape_net", owner="20_disturbed_dataset", source="§5 (Geirhos et al. 2019, Hermann et al. 2020)",
           statement="a net trained where the shape is the reliable cue (texture probability 0.1, shape 1.0) "
                     "classifies most cue-conflict images by shape: the bias follows the reliable cue",
           paper="shape-biased (shape bias > 0.5)",
           quantity="shape bias of the shape-trained net on cue-conflict images",
           criterion="reproduced if shape bias > 0.5; not reproduced otherwise; " + FLOOR,
           verdicts=TWO_WAY_CHECKED)
def shape_bias_shape_net(shape_bias: float, original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    return graded(round(shape_bias, 3), reproduced=shape_bias > 0.5)


@BOOK.rule("fig5_transfer_predicts_texture", owner="20_disturbed_dataset", source="Fig. 5, §4.2.1",
           statement="after Gatys texture transfer of a texture patch onto a white-background object, the "
                     "texture-biased net predicts the texture's class, not the content's",
           paper="4 of 4 examples (bird → zebra, cat → leopard, bus → elephant, …)",
           quantity="share of texture-transferred white-background objects predicted as the texture's class",
           criterion="reproduced if share >= 0.75; partly if > 0.25; not reproduced otherwise; " + FLOOR)
def fig5_transfer_predicts_texture(share: float, n: int, original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    return graded(f"{round(share * n)} of {n}", reproduced=share >= 0.75, partly=share > 0.25)


# ------------------------------------------------------------------------------------------ notebook 21

@BOOK.rule("textured_zero", owner="21_layerwise_influence", source="Table 1, §4.1",
           statement="all textured images fail to get the correct (shape/content) class", paper=0.0,
           quantity="top-1 accuracy on the textured test images",
           criterion="reproduced if textured accuracy <= 0.05 (the paper's 0 %, allowing 1 in 20); partly if "
                     "below half the original accuracy; not reproduced otherwise; " + FLOOR)
def textured_zero(textured: float, original: float) -> Outcome:
    if (o := _floor(original)):
        return o
    return graded(round(textured, 3), reproduced=textured <= 0.05, partly=textured < original / 2)


@BOOK.rule("white_background_comparable", owner="21_layerwise_influence", source="Table 1, §4.1",
           statement="white-background images are classified comparably to the originals",
           paper="original 50-97 %, white background 34-97 %",
           quantity="accuracy on originals and on white-background images",
           criterion="reproduced if |original − white background| <= 0.15; not reproduced otherwise; " + FLOOR,
           verdicts=TWO_WAY_CHECKED)
def white_background_comparable(original: float, white_background: float) -> Outcome:
    if (o := _floor(original)):
        return o
    return graded(f"orig {original:.2f}, white {white_background:.2f}",
                  reproduced=abs(original - white_background) <= 0.15)


@BOOK.rule("styled_lower", owner="21_layerwise_influence", source="Table 1, §4.1",
           statement="styled images are classified worse than the originals", paper="styled 20-79 %",
           quantity="accuracy on styled images vs originals",
           criterion="reproduced if styled accuracy < original accuracy; not reproduced otherwise; " + FLOOR,
           verdicts=TWO_WAY_CHECKED)
def styled_lower(original: float, styled: float) -> Outcome:
    if (o := _floor(original)):
        return o
    return graded(f"styled {styled:.2f} vs orig {original:.2f}", reproduced=styled < original)


@BOOK.rule("influential_class_original", owner="21_layerwise_influence", source="Fig. 2A, Table 2",
           statement="original images: the most influential training image (argmax I_total) has the predicted class",
           paper=1.0, quantity="share of original test images whose most influential training image has the "
                               "predicted class (helpful sign)",
           criterion="reproduced if share >= 0.8; partly if >= 0.5; not reproduced below; " + INFLUENCE_FLOOR)
def influential_class_original(share: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(round(share, 3), reproduced=share >= 0.8, partly=share >= 0.5)


@BOOK.rule("influential_class_white", owner="21_layerwise_influence", source="Fig. 2D",
           statement="white background: the most influential training image has the class of the original",
           paper=1.0, quantity="share of white-background test images whose most influential training image has "
                               "the true class (helpful sign)",
           criterion="reproduced if share >= 0.8; partly if >= 0.5; not reproduced below; " + INFLUENCE_FLOOR)
def influential_class_white(share: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(round(share, 3), reproduced=share >= 0.8, partly=share >= 0.5)


@BOOK.rule("influential_class_disturbed", owner="21_layerwise_influence", source="Fig. 2B-C, Table 2",
           statement="styled AND textured images: the most influential training image's class differs from the "
                     "predicted class ('a strong dependence on the styling and texture')",
           paper="differs (Table 2)",
           quantity="share of styled and of textured test images whose most influential training image's class "
                    "differs from the predicted class",
           criterion="reproduced if the share is >= 0.5 for both styled and textured; partly if for one of them; "
                     "not reproduced if for neither; " + INFLUENCE_FLOOR)
def influential_class_disturbed(styled_differs: float, textured_differs: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    held = [styled_differs >= 0.5, textured_differs >= 0.5]
    return graded(f"differs for styled {styled_differs:.2f}, textured {textured_differs:.2f}",
                  reproduced=all(held), partly=any(held))


@BOOK.rule("styled_correct_above_median", owner="21_layerwise_influence", source="Fig. 4, §4.2.1",
           statement="styled images are classified correctly when their intra-class I_avg lies at or above the "
                     "median, wrongly below it", paper="correct above the median, wrong below",
           quantity="accuracy of the styled images with I_avg >= the data set's median vs those below (helpful sign)",
           criterion="reproduced if the accuracy above the median exceeds the accuracy below; not reproduced "
                     "otherwise; not checked if either group is empty; " + INFLUENCE_FLOOR,
           verdicts=TWO_WAY_CHECKED)
def styled_correct_above_median(accuracy_above: float, accuracy_below: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    ours = f"accuracy above median {accuracy_above:.2f}, below {accuracy_below:.2f}"
    if not _finite(accuracy_above, accuracy_below):
        return not_checked("precondition failed: no styled image on one side of the median", ours)
    return graded(ours, reproduced=accuracy_above > accuracy_below)


@BOOK.rule("disturbed_more_dispersed", owner="21_layerwise_influence", source="Fig. 3",
           statement="styled and textured images' I_avg are more dispersed than the originals'",
           paper="larger dispersion", quantity="standard deviation of the intra-class I_avg per condition",
           criterion="reproduced if both styled and textured std > original std; partly if one; not reproduced "
                     "if neither; " + INFLUENCE_FLOOR)
def disturbed_more_dispersed(original_std: float, styled_std: float, textured_std: float,
                             original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    held = [styled_std > original_std, textured_std > original_std]
    return graded(f"std original {original_std:.3g}, styled {styled_std:.3g}, textured {textured_std:.3g}",
                  reproduced=all(held), partly=any(held))


@BOOK.rule("fig9_original_white_similar", owner="21_layerwise_influence", source="Fig. 9, §4.2.3",
           statement="the layer profiles of original and white-background images are highly similar",
           paper="highly similar",
           quantity="Pearson r between the original and white-background mean I_Lavg across the 16 layers",
           criterion="reproduced if r >= 0.8 and r exceeds the original-textured correlation; not reproduced "
                     "otherwise; " + INFLUENCE_FLOOR, verdicts=TWO_WAY_CHECKED)
def fig9_original_white_similar(r_white: float, r_textured: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(f"Pearson r = {r_white:.2f} (original vs textured: {r_textured:.2f})",
                  reproduced=_finite(r_white) and r_white >= 0.8 and r_white > r_textured)


@BOOK.rule("fig9_textured_last_layers", owner="21_layerwise_influence", source="Fig. 9, §4.2.3",
           statement="textured images show high peaks of layer-wise influence toward the last layers",
           paper="high peaks at the last layers",
           quantity="layer (of 16) with the largest |mean I_Lavg| of the textured images",
           criterion="reproduced if that layer is one of the last four; not reproduced otherwise; " + INFLUENCE_FLOOR,
           verdicts=TWO_WAY_CHECKED)
def fig9_textured_last_layers(peak_layer: str, peak_index: int, n_layers: int, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(f"largest |mean| at {peak_layer} ({peak_index + 1} of {n_layers})",
                  reproduced=peak_index >= n_layers - 4)


@BOOK.rule("layerwise_separates_better", owner="21_layerwise_influence", source="§5 Discussion",
           statement="layer-wise scores separate the disturbance conditions better than the compound (total) score",
           paper="layer-wise more decisive",
           quantity="5-fold CV accuracy of predicting the condition and silhouette of the conditions, from the 16 "
                    "per-layer I_Lavg vs the single total I_avg",
           criterion="reproduced if the layer-wise CV accuracy is 5 points above the total's AND 10 above chance "
                     "AND its silhouette is higher by 0.05 and above 0 (16 features vs 1 is not a fair fight for a "
                     "classifier, so the clusters must separate too); partly if the CV criteria only; not "
                     "reproduced otherwise; " + INFLUENCE_FLOOR)
def layerwise_separates_better(cv_layerwise: float, cv_total: float, silhouette_layerwise: float,
                               silhouette_total: float, chance: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    cv = cv_layerwise - cv_total > 0.05 and cv_layerwise - chance > 0.1
    sil = silhouette_layerwise - silhouette_total > 0.05 and silhouette_layerwise > 0
    return graded(f"CV accuracy {cv_layerwise:.2f} (16 layers) vs {cv_total:.2f} (total), silhouette "
                  f"{silhouette_layerwise:.3f} vs {silhouette_total:.3f}, chance {chance:.2f}",
                  reproduced=cv and sil, partly=cv)


# ------------------------------------------------------------------------------------------ notebook 22

@BOOK.rule("table3_patches_recognised", owner="22_texture_dose", source="Table 3",
           statement="texture patches alone are classified as their class", paper="0.90-0.95",
           quantity="mean top-1 accuracy over the classes' texture patches",
           criterion="reproduced if >= 0.8; partly if >= 0.5; not reproduced below; " + FLOOR)
def table3_patches_recognised(patch_accuracy: float, original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    return graded(round(patch_accuracy, 3), reproduced=patch_accuracy >= 0.8, partly=patch_accuracy >= 0.5)


@BOOK.rule("table3_texture_decides", owner="22_texture_dose", source="Table 3, §4.2.1",
           statement="an object carrying another class's texture is predicted as the texture's class",
           paper="4/4 examples", quantity="share of textured test images predicted as the texture's class "
                                          "(and as the shape's class)",
           criterion="reproduced if the texture's class wins >= 0.5 of the textured images; partly if it wins more "
                     "often than the shape's class; not reproduced otherwise; " + FLOOR)
def table3_texture_decides(texture_share: float, shape_share: float, original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    return graded(f"{texture_share:.2f} of textured images (shape class: {shape_share:.2f})",
                  reproduced=texture_share >= 0.5, partly=texture_share > shape_share)


@BOOK.rule("fig6_prediction_flips", owner="22_texture_dose", source="Fig. 6, §4.2.1",
           statement="adding more texture to a correctly classified white-background object flips the prediction "
                     "away from its class", paper="flips after ~10 of the transfer iterations",
           quantity="first texture dose (% of the transfer steps) at which the prediction leaves the content class",
           criterion="reproduced if the prediction flips within the dose series; not reproduced if it never does; "
                     "not checked if the content image was misclassified before any texture; " + FLOOR,
           verdicts=TWO_WAY_CHECKED)
def fig6_prediction_flips(flip_percent: float, start_correct: bool, p_true_first: float, p_true_last: float,
                          original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    if not start_correct:
        return not_checked("precondition failed: the content image was misclassified before any texture was "
                           "added: no flip to observe")
    flipped = _finite(flip_percent)
    ours = (f"flips at {flip_percent:.0f} % texture" if flipped else
            f"no flip (p_true {p_true_first:.2f} -> {p_true_last:.2f})")
    return graded(ours, reproduced=flipped)


@BOOK.rule("fig6_influence_falls", owner="22_texture_dose", source="Fig. 6, §4.2.1",
           statement="the intra-class influence falls (and turns negative) as the texture dose grows",
           paper="decreases, becomes negative",
           quantity="Pearson r between the texture dose and the intra-class I_avg (helpful sign) of the snapshots",
           criterion="reproduced if r < -0.5; not reproduced otherwise (also when I_avg is constant); " + INFLUENCE_FLOOR,
           verdicts=TWO_WAY_CHECKED)
def fig6_influence_falls(r: float, last_I_avg: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(f"Pearson(dose, I_avg) = {r:.2f}; last I_avg {last_I_avg:.3g}", reproduced=_finite(r) and r < -0.5)


# ------------------------------------------------------------------------------------------ notebook 23

@BOOK.rule("fig8_three_clusters", owner="23_influence_clustering", source="Fig. 8A,C,E",
           statement="per class, the conditions' I_Lavg vectors form three clusters: {original, white background}, "
                     "{styled}, {textured}", paper="3 of 3 classes shown",
           quantity="share of classes whose 3-cluster cut (average linkage, Euclidean) is the paper's grouping",
           criterion="reproduced if share >= 0.7; partly if >= 0.3; not reproduced below; " + INFLUENCE_FLOOR)
def fig8_three_clusters(share: float, n_classes: int, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(f"{share:.2f} of {n_classes} classes", reproduced=share >= 0.7, partly=share >= 0.3)


@BOOK.rule("fig8_white_closest", owner="23_influence_clustering", source="Fig. 8B,D,F",
           statement="white background is the condition closest to the original (Pearson correlation distance)",
           paper="closest", quantity="share of classes where white background has the smallest 1 − ρ to the original",
           criterion="reproduced if share >= 0.7; partly if >= 0.3; not reproduced below; " + INFLUENCE_FLOOR)
def fig8_white_closest(share: float, original_accuracy: float, train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    return graded(f"closest for {share:.2f} of classes", reproduced=share >= 0.7, partly=share >= 0.3)


# ------------------------------------------------------------------------------------------ notebook 24

@BOOK.rule("fig10_disturbed_more_dispersed", owner="24_shapley_maps", source="Fig. 10B-C, §5",
           statement="styled and textured images have larger, more dispersed influential (Shapley) regions than "
                     "the originals", paper="larger, more dispersed",
           quantity="mean spread (share of pixels with |Shapley value| >= 10 % of the image's max) per condition",
           criterion="reproduced if both styled and textured spread > original; partly if one; not reproduced if "
                     "neither; " + FLOOR)
def fig10_disturbed_more_dispersed(original: float, styled: float, textured: float,
                                   original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    held = [styled > original, textured > original]
    return graded(f"original {original:.2f}, styled {styled:.2f}, textured {textured:.2f}",
                  reproduced=all(held), partly=any(held))


@BOOK.rule("fig10_original_white_alike", owner="24_shapley_maps", source="Fig. 10",
           statement="original and white-background Shapley maps are alike, styled and textured apart (as Fig. 8)",
           paper="grouped as in Fig. 8",
           quantity="mean Pearson r of the same object's maps: original-white vs original-textured/-styled",
           criterion="reproduced if r(original, white) exceeds both others; not reproduced otherwise; " + FLOOR,
           verdicts=TWO_WAY_CHECKED)
def fig10_original_white_alike(r_white: float, r_textured: float, r_styled: float,
                               original_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy)):
        return o
    return graded(f"map Pearson original-white {r_white:.2f}, -textured {r_textured:.2f}, -styled {r_styled:.2f}",
                  reproduced=_finite(r_white) and r_white > max(r_textured, r_styled))


# ------------------------------------------------------------------------------------------ notebook 25


@BOOK.rule("retrain_top_layers_best", owner="25_retrain_by_layer", source="§5 Conclusion (beyond the paper)",
           statement="fine-tuning the layers whose layer-wise influence departs most between textured and original "
                     "images (Fig. 9's measure) overcomes the texture bias better than fine-tuning k random layers or "
                     "the k least departing ones, with the same budget",
           paper="layer-wise influence shows which layers to retrain",
           quantity="shape bias on cue-conflict images after fine-tuning the top-k / k random / bottom-k layers on "
                    "shape-consistent data (mean ± sd over seeds and random draws)",
           criterion="reproduced if the top-k mean shape bias exceeds BOTH the random-k and the bottom-k mean by more "
                     "than the sum of the two arms' standard deviations; partly if it does so for one of them; not "
                     "reproduced otherwise; not checked if fine-tuning ALL layers raises the shape bias by less than "
                     "0.05 over the net before fine-tuning (the budget cannot move the bias, so no choice of layers "
                     "can be told apart); " + FLOOR + f"; not checked if the training accuracy < {TRAIN_ACCURACY_FLOOR}")
def retrain_top_layers_best(top: float, top_sd: float, random: float, random_sd: float, bottom: float,
                            bottom_sd: float, all_layers: float, before: float, k: int, original_accuracy: float,
                            train_accuracy: float) -> Outcome:
    if (o := _floor(original_accuracy, train_accuracy)):
        return o
    ours = (f"k={k}: shape bias top-k {top:.2f} ± {top_sd:.2f}, random-k {random:.2f} ± {random_sd:.2f}, bottom-k "
            f"{bottom:.2f} ± {bottom_sd:.2f}; all layers {all_layers:.2f}, before {before:.2f}")
    if not _finite(all_layers, before) or all_layers - before < 0.05:
        return not_checked("precondition failed: fine-tuning all layers did not raise the shape bias by 0.05", ours)
    beats = [_finite(top, other, top_sd, sd) and top - other > top_sd + sd
             for other, sd in ((random, random_sd), (bottom, bottom_sd))]
    return graded(ours, reproduced=all(beats), partly=any(beats))


__all__ = ["BOOK", "ORIGINAL_ACCURACY_FLOOR", "TRAIN_ACCURACY_FLOOR", "REPRODUCED", "NOT_REPRODUCED"]
