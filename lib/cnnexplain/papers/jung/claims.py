"""The claims of Jung, Shin & Kwon, influential scores, each a rule written before the data (:mod:`cnnexplain.claims`).

Owners: ``10_influential_synthetic`` (§II-C Fig. 2, §IV-A Fig. 3-5), ``11_influential_mnist`` (§IV-B
Fig. 1, 6, 7) and ``12_influential_real_fake`` (§IV-C Fig. 8). Thresholds come from the paper's words;
where a verdict needs a trained network, an accuracy floor turns a badly trained one into "not checked".
"""

from __future__ import annotations

import math

import numpy as np

from cnnexplain.claims import (NOT_CHECKED, REPRODUCED, THREE_WAY, TWO_WAY, ClaimBook, Outcome, below_floor, graded,  # noqa: F401
                               not_checked)

BOOK = ClaimBook("jung", "Jung, Shin & Kwon, influential scores")

SYNTHETIC = "10_influential_synthetic"
MNIST = "11_influential_mnist"
REAL_FAKE = "12_influential_real_fake"

#: a synthetic net below this test accuracy (in the readout of :func:`~cnnexplain.papers.jung.synthetic.synthetic_accuracy`)
#: has not learnt its data set; its scores say nothing about the paper's claims
SYNTHETIC_FLOOR = 0.95
#: the hybrid CNN must classify MNIST digits before its input scores are read (paper: > 0.995)
MNIST_FLOOR = 0.9
#: the real/fake detector must beat the constant guess clearly before its scores are read
REAL_FAKE_FLOOR = 0.75
#: Spearman correlation with Y1 above which a held-out L2 peak 'controls' Y1 (Fig. 5)
PEAK_RHO = 0.5

PAPER_TOY_H1, PAPER_TOY_H2, PAPER_TOY_OUTPUT = [2 / 3, -1 / 3], [1.0, 0.0], [-1 / 2, 1 / 2]


def _below(name: str, value: float, floor: float, ours) -> Outcome | None:
    """``below_floor`` that keeps our measured value in the 'not checked' outcome (the report still shows it)."""
    outcome = below_floor(name, value, floor)
    return None if outcome is None else not_checked(outcome.note, ours)


def _close(ours, paper) -> Outcome:
    ours = [round(float(v), 4) for v in ours]
    return graded(ours, reproduced=bool(np.allclose(ours, paper, atol=1e-3)))


# --- §II-C, Fig. 2: the toy network o = min(i1, i2), inputs (2, 1) ----------------------------------------------

@BOOK.rule("toy_h1_scores", owner=SYNTHETIC, source="§II-C, Fig. 2",
           statement="inputs (2, 1): h1 gets 2/3 and -1/3 from i1 and i2", paper=PAPER_TOY_H1,
           quantity="influential scores i1 -> h1, i2 -> h1 of the toy network",
           criterion="reproduced if both equal the paper's within 1e-3; not reproduced otherwise", verdicts=TWO_WAY)
def toy_h1_scores(scores) -> Outcome:
    return _close(scores, PAPER_TOY_H1)


@BOOK.rule("toy_h2_scores", owner=SYNTHETIC, source="§II-C, Fig. 2", statement="h2 gets 1 and 0 from i1 and i2",
           paper=PAPER_TOY_H2, quantity="influential scores i1 -> h2, i2 -> h2 of the toy network",
           criterion="reproduced if both equal the paper's within 1e-3; not reproduced otherwise", verdicts=TWO_WAY)
def toy_h2_scores(scores) -> Outcome:
    return _close(scores, PAPER_TOY_H2)


@BOOK.rule("toy_output_scores", owner=SYNTHETIC, source="§II-C, Fig. 2",
           statement="h1 and h2 get -1/2 and 1/2 for the output 'since h1 and h2 are both 1'", paper=PAPER_TOY_OUTPUT,
           quantity="influential scores h1 -> o, h2 -> o of the toy network by the paper's definition",
           criterion="reproduced if both equal the paper's within 1e-3; not reproduced otherwise", verdicts=TWO_WAY)
def toy_output_scores(scores, h2_value: float) -> Outcome:
    outcome = _close(scores, PAPER_TOY_OUTPUT)
    if outcome.verdict == REPRODUCED:
        return outcome
    return Outcome(outcome.verdict, outcome.ours,
                   f"in the network the text describes h2 = ReLU(i1) = {h2_value:g}, not 1, so the paper's own "
                   "definition gives -1/3 and 2/3; with the printed values both inputs would get equal scores, "
                   "contradicting the next sentence that i1 has more influence")


@BOOK.rule("toy_i1_more_influential", owner=SYNTHETIC, source="§II-C",
           statement="i1 has more influence on the output than i2 even though o = i2 (a gradient gives (0, 1))",
           paper="i1 > i2", quantity="influential scores i1 -> o and i2 -> o (products over the hidden layer)",
           criterion="reproduced if score(i1) > score(i2); not reproduced otherwise", verdicts=TWO_WAY)
def toy_i1_more_influential(scores) -> Outcome:
    ours = [round(float(v), 4) for v in scores]
    return graded(ours, reproduced=ours[0] > ours[1])


# --- §IV-A: accuracy and Fig. 3 ranks ---------------------------------------------------------------------------

@BOOK.rule("accuracy_synthetic", owner=SYNTHETIC, source="§IV-A",
           statement="more than 99.3% accuracy on all three synthetic data sets (80,000 training samples)",
           paper="> 0.993", quantity="test accuracy per data set, in a readout a constant classifier cannot pass "
                                     "(arg-max agreement; two-features: the median split of Y1, see synthetic_accuracy)",
           criterion="reproduced if every data set's accuracy > 0.993 and above its constant-classifier accuracy; "
                     "partly if every one >= 0.98 and above the constant classifier; not reproduced otherwise",
           verdicts=THREE_WAY)
def accuracy_synthetic(accuracy: dict, trivial: dict) -> Outcome:
    ours = {name: round(float(a), 4) for name, a in accuracy.items()}
    beats = all(accuracy[n] > trivial[n] for n in accuracy)
    note = "" if beats else ("a constant classifier does as well on " +
                             ", ".join(n for n in accuracy if accuracy[n] <= trivial[n]))
    return graded(ours, reproduced=beats and all(a > 0.993 for a in accuracy.values()),
                  partly=beats and all(a >= 0.98 for a in accuracy.values()), note=note)


@BOOK.rule("two_features_high_rank_share", owner=SYNTHETIC, source="§IV-A, Fig. 3",
           statement="two-features: the frequency of ranks >= 2 for X0, X1 is about 13%, about the probability "
                     "of a small number (< 0.06)", paper=0.13,
           quantity="share of the ranks of X0, X1 that are >= 2 over the test samples (scores w.r.t. the notebook's "
                    "RANK_TARGET, default Y0)",
           criterion="reproduced if |share - 0.13| <= 0.04; partly if <= 0.08; not reproduced otherwise; "
                     f"not checked if the two-features net's accuracy < {SYNTHETIC_FLOOR}")
def two_features_high_rank_share(share: float, accuracy: float) -> Outcome:
    ours = round(float(share), 4)
    if (o := _below("two-features test accuracy", accuracy, SYNTHETIC_FLOOR, ours)):
        return o
    gap = abs(share - 0.13)
    return graded(ours, reproduced=gap <= 0.04, partly=gap <= 0.08)


@BOOK.rule("two_features_high_rank_cause", owner=SYNTHETIC, source="§IV-A",
           statement="the higher ranks come from inputs close to 0 (a score is proportional to its node value)",
           paper="inputs < 0.06", quantity="P(rank >= 2 | input < 0.06) and P(rank >= 2 | input >= 0.06) for X0, X1",
           criterion="reproduced if P(small) > 0.8 and P(large) < 0.05; partly if P(small) > 5 P(large); "
                     f"not reproduced otherwise; not checked if the net's accuracy < {SYNTHETIC_FLOOR} or no input < 0.06")
def two_features_high_rank_cause(p_small: float, p_large: float, accuracy: float) -> Outcome:
    ours = {"P(rank >= 2 | input < 0.06)": round(p_small, 4), "P(rank >= 2 | input >= 0.06)": round(p_large, 4)}
    if (o := _below("two-features test accuracy", accuracy, SYNTHETIC_FLOOR, ours)):
        return o
    if not math.isfinite(p_small):
        return not_checked("no test sample has a relevant input < 0.06", ours)
    return graded(ours, reproduced=p_small > 0.8 and p_large < 0.05, partly=p_small > 5 * p_large)


@BOOK.rule("rank_relevant_found", owner=SYNTHETIC, source="§IV-A, Fig. 3",
           statement="influential scores find the relevant inputs (plus-one has no zeros, so no higher ranks)",
           paper="relevant inputs take the top ranks",
           quantity="plus-one: share of samples in which X0 or X1 is not among the top 2 ranks (scores w.r.t. the "
                    "notebook's RANK_TARGET, default Y0)",
           criterion="reproduced if share < 0.05; partly if < 0.2; not reproduced otherwise; "
                     f"not checked if the plus-one net's accuracy < {SYNTHETIC_FLOOR}")
def rank_relevant_found(share: float, accuracy: float) -> Outcome:
    ours = round(float(share), 4)
    if (o := _below("plus-one test accuracy", accuracy, SYNTHETIC_FLOOR, ours)):
        return o
    return graded(ours, reproduced=share < 0.05, partly=share < 0.2)


# --- §IV-A: Fig. 4 and Fig. 5 -----------------------------------------------------------------------------------

@BOOK.rule("fig4_opposite_signs", owner=SYNTHETIC, source="§IV-A, Fig. 4",
           statement="the signs of the important peaks in L1, L2, L3 w.r.t. Y0 and Y1 are different "
                     "(the outputs share the important nodes)", paper="opposite signs",
           quantity="mean Pearson correlation of the Y0 and Y1 score vectors of L1, L2, L3 over test samples",
           criterion="reproduced if every layer's correlation < -0.5; partly if every one < 0; "
                     f"not reproduced if one is >= 0; not checked if the net's accuracy < {SYNTHETIC_FLOOR}")
def fig4_opposite_signs(correlation: dict, accuracy: float) -> Outcome:
    ours = {layer: round(float(c), 3) for layer, c in correlation.items()}
    if (o := _below("test accuracy", accuracy, SYNTHETIC_FLOOR, ours)):
        return o
    values = [ours[layer] for layer in ("L1", "L2", "L3")]
    return graded(ours, reproduced=all(c < -0.5 for c in values), partly=all(c < 0 for c in values))


@BOOK.rule("fig4_more_peaks_near_output", owner=SYNTHETIC, source="§IV-A, Fig. 4",
           statement="the number of significant peaks increases towards the output layer", paper="L1 < L2 < L3",
           quantity="mean number of nodes with |score w.r.t. Y1| >= 10% of the layer's largest, over test samples",
           criterion=f"reproduced if L1 < L2 < L3; not reproduced otherwise; not checked if the net's accuracy < "
                     f"{SYNTHETIC_FLOOR}", verdicts=(*TWO_WAY, NOT_CHECKED))
def fig4_more_peaks_near_output(peaks: dict, accuracy: float) -> Outcome:
    ours = {layer: round(float(p), 2) for layer, p in peaks.items()}
    if (o := _below("test accuracy", accuracy, SYNTHETIC_FLOOR, ours)):
        return o
    return graded(ours, reproduced=ours["L1"] < ours["L2"] < ours["L3"])


@BOOK.rule("fig5_peaks_control_y1", owner=SYNTHETIC, source="§IV-A, Fig. 5",
           statement="a negative L2 peak is deep when Y1 is small, a positive peak is high when Y1 is large "
                     "(paper: nodes 136 and 9); their scores move with Y1",
           paper={"negative": 136, "positive": 9},
           quantity="nodes picked on one half of the test samples (most negative mean L2 score at low Y1, most "
                    "positive at high Y1); on the other, held-out half: Spearman correlation of each node's L2 "
                    "score w.r.t. Y1 with the predicted Y1 over 0.1..0.7",
           criterion=f"reproduced if both held-out correlations >= {PEAK_RHO}; partly if one is; not reproduced if "
                     f"neither; not checked if the net's accuracy < {SYNTHETIC_FLOOR}, fewer than 20 held-out samples or no "
                     "picking samples at low or high Y1")
def fig5_peaks_control_y1(rho_negative: float, rho_positive: float, n_held_out: int, accuracy: float) -> Outcome:
    ours = {"rho_negative_peak": round(float(rho_negative), 3), "rho_positive_peak": round(float(rho_positive), 3)}
    if (o := _below("test accuracy", accuracy, SYNTHETIC_FLOOR, ours)):
        return o
    if n_held_out < 20:
        return not_checked(f"only {n_held_out} held-out samples with predicted Y1 in 0.1..0.7 (need 20)", ours)
    if not (math.isfinite(rho_negative) and math.isfinite(rho_positive)):
        return not_checked("no picking samples at low or at high Y1: the peaks could not be picked", ours)
    held = sum(bool(r >= PEAK_RHO) for r in (rho_negative, rho_positive))
    return graded(ours, reproduced=held == 2, partly=held == 1,
                  note=f"{n_held_out} held-out samples; node numbers depend on the trained weights")


# --- §IV-B: MNIST ------------------------------------------------------------------------------------------------

@BOOK.rule("accuracy_mnist", owner=MNIST, source="§IV-B",
           statement="the hybrid CNN reaches > 99.5% test accuracy on MNIST (60,000 / 10,000)", paper="> 0.995",
           quantity="test accuracy of jung_hybrid_cnn",
           criterion="reproduced if > 0.995; partly if >= 0.99; not reproduced below; not checked if trained on "
                     "fewer than the paper's 60,000 digits (the claim is about full MNIST)")
def accuracy_mnist(accuracy: float, n_train: int) -> Outcome:
    if n_train < 60000:
        return not_checked(f"trained on {n_train} digits, not the paper's 60,000 (the paper profile trains on full "
                           f"MNIST); accuracy here {accuracy:.4f}", round(float(accuracy), 4))
    return graded(round(float(accuracy), 4), reproduced=accuracy > 0.995, partly=accuracy >= 0.99)


@BOOK.rule("fig1_mostly_red_for_own_class", owner=MNIST, source="§IV-B, Fig. 1",
           statement="input scores for the predicted class are mostly positive (red), for the other classes mostly "
                     "negative (blue)", paper="mostly red for the own class",
           quantity="positive share sum(s+)/sum(|s|) of the input scores: mean for the predicted class, mean for the "
                    "other classes, and the share of digits whose most positive class is the predicted one",
           criterion="reproduced if own > 0.5 > others and top >= 0.9; partly if own > others and top >= 0.5; "
                     f"not reproduced otherwise; not checked if the test accuracy < {MNIST_FLOOR}")
def fig1_mostly_red_for_own_class(own: float, others: float, top_is_predicted: float, accuracy: float) -> Outcome:
    ours = {"positive share, predicted class": round(own, 4), "positive share, other classes": round(others, 4),
            "digits whose most positive class is the predicted one": round(top_is_predicted, 4)}
    if (o := _below("test accuracy", accuracy, MNIST_FLOOR, ours)):
        return o
    return graded(ours, reproduced=own > 0.5 > others and top_is_predicted >= 0.9,
                  partly=own > others and top_is_predicted >= 0.5)


@BOOK.rule("fig7_filter_ranking", owner=MNIST, source="§IV-B, Fig. 7",
           statement="for the 9: filter 15 most important, 13 and 14 also, filter 4 least",
           paper={"most": [15, 13, 14], "least": 4},
           quantity="filter numbers (1-based) of the three highest and the lowest filter score for a 9",
           criterion="reproduced if the top filter is 15, 13 and 14 are in the top 3 and 4 is last; partly if 15 is in "
                     "the top 3 or 4 is last; not reproduced otherwise; not checked unless the 41 kernels are the "
                     "paper's in the paper's order (the paper does not list them)")
def fig7_filter_ranking(most, least: int, papers_kernels: bool) -> Outcome:
    ours = {"most": [int(f) for f in most[:3]], "least": int(least)}
    if not papers_kernels:
        return not_checked("the paper does not list its 41 kernels or their order; ours are a reconstruction of the "
                           "same kernel families, so filter numbers cannot be compared", ours)
    top = ours["most"]
    return graded(ours, reproduced=top[0] == 15 and {13, 14} <= set(top) and ours["least"] == 4,
                  partly=15 in top or ours["least"] == 4)


# --- §IV-C: real vs fake faces -----------------------------------------------------------------------------------

@BOOK.rule("fake_detection", owner=REAL_FAKE, source="§IV-C",
           statement="the model successfully detects GAN-generated fake faces (no accuracy given)",
           paper="successful (no number)", quantity="test accuracy of jung_fake_face_cnn, and the share of the "
                                                    "larger test class (what a constant guess gets)",
           criterion="reproduced if accuracy >= 0.9 and above the constant guess; partly if it beats the constant "
                     "guess by 0.05; not reproduced otherwise; not checked without the paper's data (real and fake "
                     "face folders)")
def fake_detection(accuracy: float, majority: float, paper_data: bool) -> Outcome:
    ours = round(float(accuracy), 4)
    if not paper_data:
        return not_checked("stand-in data (photo crops, not faces, not GAN images); only real/ and fake/ face "
                           "folders (DATA = 'folders') can check this claim", ours)
    return graded(ours, reproduced=accuracy >= 0.9 and accuracy > majority, partly=accuracy > majority + 0.05)


@BOOK.rule("real_fake_opposite_signs", owner=REAL_FAKE, source="§IV-C",
           statement="input scores w.r.t. the real and the fake node have opposite signs", paper="opposite signs",
           quantity="mean Pearson correlation of the real-node and fake-node input scores over test images",
           criterion="reproduced if < -0.5; partly if < 0; not reproduced otherwise; not checked if the test "
                     f"accuracy < {REAL_FAKE_FLOOR}")
def real_fake_opposite_signs(correlation: float, accuracy: float, data: str) -> Outcome:
    ours = round(float(correlation), 3)
    if (o := _below("test accuracy", accuracy, REAL_FAKE_FLOOR, ours)):
        return o
    return graded(ours, reproduced=correlation < -0.5, partly=correlation < 0,
                  note=f"on {data}")


@BOOK.rule("real_fake_eyes_and_wrinkles", owner=REAL_FAKE, source="§IV-C, Fig. 8",
           statement="the model looks at regions around the eyes and wrinkles, not the face shape",
           paper="eyes and wrinkles",
           quantity="share of the top-scoring pixels inside annotated eye/wrinkle regions, divided by those "
                    "regions' share of the image (enrichment)",
           criterion="reproduced if the enrichment >= 2; partly if >= 1.25; not reproduced otherwise; not checked "
                     "without face images with eye/wrinkle region annotations")
def real_fake_eyes_and_wrinkles(top_share: float | None, region_share: float | None) -> Outcome:
    if top_share is None or region_share is None or not region_share > 0:
        return not_checked("needs face images with eye/wrinkle region annotations (not available here)",
                           "not measurable without face annotations")
    enrichment = top_share / region_share
    return graded(round(enrichment, 3), reproduced=enrichment >= 2, partly=enrichment >= 1.25)
