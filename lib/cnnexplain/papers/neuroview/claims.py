"""The claims of Barberan, Balestriero & Baraniuk, NeuroView, each a rule written before the data (:mod:`cnnexplain.claims`).

Shared thresholds, fixed from the paper's wording before any run:

* ``ON_PAR_POINTS`` = 5: "on par" (C1, Table 1) means ``|NeuroView − plain| <= 5`` accuracy points, in
  either direction. A NeuroView net far *better* than its plain net is not "on par" either: it says one of
  the two did not train with the shared budget, which is a fact about the budget, not about NeuroView.
* ``CONVERGED_TRAIN_ACC`` = 90 %: an accuracy comparison is only made between networks that both reached
  this last-epoch training accuracy; otherwise that comparison is "not checked".
* ``TRAINED_TEST_ACC`` = 60 % test accuracy (chance is 10-17 % on our 6-10-class sets): the weights of a
  network below it are not read as explanations ("not checked").
* ``DIFFERENT_TV`` = 0.2: two per-layer distributions of the top weights "differ" when their
  total-variation distance is at least 0.2 (a fifth of the top weights sit in other layers).

All accuracies handed to these rules are in percent, as in the notebooks' tables.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from cnnexplain.claims import (NOT_CHECKED, NOT_REPRODUCED, PARTLY, REPRODUCED, TWO_WAY, ClaimBook, Outcome,
                               below_floor, graded, not_checked)

BOOK = ClaimBook("neuroview", "Barberan, Balestriero & Baraniuk, NeuroView")

ON_PAR_POINTS = 5.0
CONVERGED_TRAIN_ACC = 90.0
TRAINED_TEST_ACC = 60.0
DIFFERENT_TV = 0.2
TWO_WAY_NC = TWO_WAY + (NOT_CHECKED,)

NB30, NB31, NB32 = "30_neuroview_accuracy", "31_neuroview_weights", "32_neuroview_case_studies"


def _trained(**accuracies: float) -> Outcome | None:
    """``not checked`` when any named test accuracy (percent) is below ``TRAINED_TEST_ACC``."""
    for name, value in accuracies.items():
        if (o := below_floor(f"{name} test accuracy (%)", value, TRAINED_TEST_ACC)):
            return o
    return None


def _converged(**train_accuracies: float) -> Outcome | None:
    """``not checked`` when any named last-epoch training accuracy (percent) is below ``CONVERGED_TRAIN_ACC``."""
    for name, value in train_accuracies.items():
        if (o := below_floor(f"{name} training accuracy (%)", value, CONVERGED_TRAIN_ACC)):
            return o
    return None


def on_par_row(gap_points: float, plain_train_acc: float, neuroview_train_acc: float) -> str:
    """One Table 1 row under C1: ``not checked`` unless both nets reached ``CONVERGED_TRAIN_ACC`` training
    accuracy (%), else ``reproduced`` when ``|gap| <= ON_PAR_POINTS`` and ``not reproduced`` otherwise."""
    if _converged(plain=plain_train_acc, neuroview=neuroview_train_acc):
        return NOT_CHECKED
    return REPRODUCED if abs(gap_points) <= ON_PAR_POINTS else NOT_REPRODUCED


# ---- notebook 30: Table 1 --------------------------------------------------------------------------------
@BOOK.rule("C1_on_par_accuracy", owner=NB30, source="Table 1 / C1",
           statement="NeuroView networks have on-par accuracy with their plain DN",
           paper="gaps -0.8 to +10.0 points over 10 rows",
           quantity="per Table 1 row: gap = NeuroView − plain test accuracy (points), and both nets' last-epoch "
                    "training accuracy",
           criterion=f"rows where both nets reach >= {CONVERGED_TRAIN_ACC:g} % training accuracy are judged, the "
                     f"others are 'not checked'; a judged row is on par when |gap| <= {ON_PAR_POINTS:g} points; "
                     "reproduced if every judged row is on par, partly if at least half are, not reproduced "
                     "otherwise; not checked if fewer than half the rows are judged")
def C1_on_par_accuracy(rows: Sequence[Mapping]) -> Outcome:
    if not rows:
        return not_checked("no Table 1 rows")
    status = [(f"{r['dataset']}/{r['network']}", r["gap_points"],
               on_par_row(r["gap_points"], r["plain_train_acc"], r["neuroview_train_acc"])) for r in rows]
    judged = [(name, gap, s) for name, gap, s in status if s != NOT_CHECKED]
    unchecked = [f"{name} (gap {gap:+.1f})" for name, gap, s in status if s == NOT_CHECKED]
    ours = (f"{sum(s == REPRODUCED for *_, s in judged)}/{len(judged)} converged rows within ±{ON_PAR_POINTS:g} "
            f"points" + (f" (gaps {min(g for _, g, _ in judged):+.1f} to {max(g for _, g, _ in judged):+.1f})"
                         if judged else ""))
    note = (f"not checked (a net below {CONVERGED_TRAIN_ACC:g} % training accuracy): {', '.join(unchecked)}"
            if unchecked else "every row converged")
    if 2 * len(judged) < len(rows):
        return not_checked(f"precondition failed: only {len(judged)} of {len(rows)} rows converged; {note}", ours)
    share = sum(s == REPRODUCED for *_, s in judged) / len(judged)
    return graded(ours, reproduced=share == 1, partly=share >= 0.5, note=note)


# ---- notebook 31: Fig. 3 and Fig. 4 ------------------------------------------------------------------------
@BOOK.rule("fig3a_deep_layers", owner=NB31, source="Fig. 3(a) / §3.5",
           statement="NeuroView VGG11 (Places10): the higher weights are closer to the deep layers",
           paper="largest weights in the last conv layers",
           quantity="share of every class's top-5% positive weights that sit in the last two conv layers, and "
                    "those layers' share of all units (chance)",
           criterion="reproduced if the share >= 1.5 × the units' share; partly if above the units' share; not "
                     f"reproduced otherwise; not checked if the net's test accuracy < {TRAINED_TEST_ACC:g} %")
def fig3a_deep_layers(deep_share: float, unit_share: float, test_acc: float) -> Outcome:
    if (o := _trained(network=test_acc)):
        return o
    ours = f"last 2 conv layers hold {deep_share:.0%} of the top positive weights (their unit share {unit_share:.0%})"
    return graded(ours, reproduced=deep_share >= 1.5 * unit_share, partly=deep_share > unit_share)


@BOOK.rule("fig3b_dataset_changes_priorities", owner=NB31, source="Fig. 3(b) / §4.3",
           statement="the same NeuroView VGG11 prioritises different units on a scene vs a texture data set",
           paper="visibly different weight distributions",
           quantity="total-variation distance between the per-layer shares of the top-5% positive weights of the "
                    "scene-trained and the texture-trained net",
           criterion=f"reproduced if TV >= {DIFFERENT_TV:g}; not reproduced below; not checked if either net's test "
                     f"accuracy < {TRAINED_TEST_ACC:g} %", verdicts=TWO_WAY_NC)
def fig3b_dataset_changes_priorities(tv: float, scenes_acc: float, textures_acc: float) -> Outcome:
    if (o := _trained(scenes=scenes_acc, textures=textures_acc)):
        return o
    return graded(round(tv, 3), reproduced=tv >= DIFFERENT_TV, note=f"TV distance {tv:.2f}")


@BOOK.rule("fig3d_stylized_early_negative", owner=NB31, source="Fig. 3(d) / §4.2",
           statement="training with extra stylized images gives larger negative weights in the early layers",
           paper="stylized AlexNet: most negative weights come from the early layers",
           quantity="mean of the 20% most negative conv1-2 weights, plain-data net vs net trained with stylized copies",
           criterion="reproduced if the stylized net's mean is at least 10% more negative than the plain one's; "
                     "partly if more negative by less; not reproduced if not more negative; not checked if either "
                     f"net's test accuracy < {TRAINED_TEST_ACC:g} %")
def fig3d_stylized_early_negative(plain_neg: float, stylized_neg: float, plain_acc: float,
                                  stylized_acc: float) -> Outcome:
    if (o := _trained(plain=plain_acc, stylized=stylized_acc)):
        return o
    ours = f"{plain_neg:.3f} (plain data) vs {stylized_neg:.3f} (with stylized copies)"
    return graded(ours, reproduced=stylized_neg <= plain_neg - 0.1 * abs(plain_neg), partly=stylized_neg < plain_neg)


@BOOK.rule("table1_stylized_same_accuracy", owner=NB31, source="Table 1 / §4.2",
           statement="stylized and plain-trained NeuroView AlexNet reach similar accuracy",
           paper="89.6 vs 89.3",
           quantity="test accuracy (%) of NeuroView AlexNet trained on scenes vs on scenes + stylized copies",
           criterion=f"reproduced if |difference| <= {ON_PAR_POINTS:g} points; not reproduced otherwise; not checked "
                     f"if either is below {TRAINED_TEST_ACC:g} % (two nets at chance are trivially similar)",
           verdicts=TWO_WAY_NC)
def table1_stylized_same_accuracy(plain_acc: float, stylized_acc: float) -> Outcome:
    if (o := _trained(plain=plain_acc, stylized=stylized_acc)):
        return o
    return graded(f"{plain_acc:.1f} vs {stylized_acc:.1f}", reproduced=abs(plain_acc - stylized_acc) <= ON_PAR_POINTS)


FIG4_PAPER_CONCEPTS = {"ballroom": ("chequered", "sky"), "barn": ("sky", "grid")}  # Fig. 4: (top +, top −)


def _fig4_rule(cls: str, paper_pos: str, paper_neg: str):
    @BOOK.rule(f"fig4_{cls}_concepts", owner=NB31, source="Fig. 4 / §4.1",
               statement=f"dominant + / − concepts of '{cls}' (summed weights per dissected concept)",
               paper=f"+ {paper_pos} / − {paper_neg}",
               quantity=f"the top positive and top negative concept of '{cls}' from a dissection of NeuroView VGG11",
               criterion="reproduced if both match the paper's, partly if one does, not reproduced if neither; not "
                         "checked without per-pixel concept masks or if the net's test accuracy < "
                         f"{TRAINED_TEST_ACC:g} %")
    def rule(top_positive: str | None, top_negative: str | None, has_concept_masks: bool, test_acc: float) -> Outcome:
        if not has_concept_masks:
            return not_checked("the scene data has no per-pixel concept masks (Broden is not wired in)")
        if (o := _trained(network=test_acc)):
            return o
        hits = (top_positive == paper_pos) + (top_negative == paper_neg)
        return graded(f"+ {top_positive} / − {top_negative}", reproduced=hits == 2, partly=hits == 1,
                      note="synthetic scenes with our own concept masks: a match means the same kind of concept "
                           "wins, on a world designed with those concepts in it")
    return rule


for _cls, (_pos, _neg) in FIG4_PAPER_CONCEPTS.items():
    _fig4_rule(_cls, _pos, _neg)


@BOOK.rule("fig4_world_known_answer", owner=NB31, source="Fig. 4 / §4.1 (our known-answer check)",
           statement="the class → concept mapping names what defines each class",
           paper="qualitative: e.g. 'ballroom' + chequered",
           quantity="classes (of 10) of the textured-shapes world whose top positive concept, by the paper's summed "
                    "weights per concept, is their own shape or texture; chance = sum over classes of the share of "
                    "own concepts among the class's positive concepts",
           criterion="one readout, fixed before the data: the paper's summed weights. Reproduced if >= 7 of 10 "
                     "classes hit; partly if the hits exceed twice chance; not reproduced otherwise; not checked if "
                     f"the net's test accuracy < {TRAINED_TEST_ACC:g} %")
def fig4_world_known_answer(hits: int, n_classes: int, chance: float, test_acc: float) -> Outcome:
    if (o := _trained(network=test_acc)):
        return o
    ours = (f"{hits}/{n_classes} classes' top + concept is their own shape or texture (chance {chance:.1f}); "
            f"test accuracy {test_acc:.1f} %")
    return graded(ours, reproduced=hits >= 0.7 * n_classes, partly=hits > 2 * chance)


# ---- notebook 32: Table 2 / Fig. 7, Fig. 5, Fig. 6 ------------------------------------------------------------
@BOOK.rule("table2_indoor_robust", owner=NB32, source="Table 2 / §4.6",
           statement="for indoor classes (aquarium, ballroom) NeuroView keeps its accuracy under colour-channel "
                     "zeroing better than the plain DN",
           paper="NeuroView mean drop {aquarium: 0.3, ballroom: 4.7} vs plain {aquarium: 30.3, ballroom: 37.3} points",
           quantity="mean accuracy drop (points) over zeroing R, G or B, per indoor class, NeuroView vs plain",
           criterion="reproduced if NeuroView drops less for both indoor classes, partly for one, not reproduced for "
                     f"neither; not checked if either net's unperturbed test accuracy < {TRAINED_TEST_ACC:g} %")
def table2_indoor_robust(neuroview_drops: Mapping[str, float], plain_drops: Mapping[str, float],
                         neuroview_acc: float, plain_acc: float) -> Outcome:
    if (o := _trained(neuroview=neuroview_acc, plain=plain_acc)):
        return o
    better = [c for c in neuroview_drops if neuroview_drops[c] < plain_drops[c]]
    ours = (f"NeuroView {({c: round(v, 1) for c, v in neuroview_drops.items()})} vs plain "
            f"{({c: round(v, 1) for c, v in plain_drops.items()})}")
    return graded(ours, reproduced=len(better) == len(neuroview_drops), partly=len(better) > 0)


@BOOK.rule("table2_scenic_drop_more", owner=NB32, source="Table 2 / §4.6",
           statement="for NeuroView, scenic classes drop more under colour zeroing than indoor classes",
           paper="scenic 54.3 vs indoor 2.5 points (mean drops)",
           quantity="NeuroView's mean drop (points) over the scenic classes (barn, baseball field, badlands) vs over "
                    "the indoor classes (aquarium, ballroom)",
           criterion="reproduced if scenic > indoor + 5 points; partly if scenic > indoor by less; not reproduced "
                     f"otherwise; not checked if the net's unperturbed test accuracy < {TRAINED_TEST_ACC:g} %")
def table2_scenic_drop_more(scenic_drop: float, indoor_drop: float, neuroview_acc: float) -> Outcome:
    if (o := _trained(neuroview=neuroview_acc)):
        return o
    return graded(f"scenic {scenic_drop:.1f} vs indoor {indoor_drop:.1f} points",
                  reproduced=scenic_drop > indoor_drop + 5, partly=scenic_drop > indoor_drop)


@BOOK.rule("table1_multiview_accuracy", owner=NB32, source="Table 1 (ModelNet40 MV) / §4.4",
           statement="multi-view NeuroView is on par with (or better than) view pooling",
           paper="91.6 vs 90.9",
           quantity="test accuracy (%) of multi-view NeuroView vs MVCNN view pooling, and both nets' last-epoch "
                    "training accuracy",
           criterion=f"reproduced if NeuroView − MVCNN >= −{ON_PAR_POINTS:g} points (the paper states 'better'); not "
                     f"reproduced otherwise; not checked unless both nets reach {CONVERGED_TRAIN_ACC:g} % training "
                     "accuracy (an unconverged baseline makes 'better' trivial)", verdicts=TWO_WAY_NC)
def table1_multiview_accuracy(neuroview_acc: float, mvcnn_acc: float, neuroview_train_acc: float,
                              mvcnn_train_acc: float) -> Outcome:
    if (o := _converged(neuroview=neuroview_train_acc, mvcnn=mvcnn_train_acc)):
        return o
    return graded(f"{neuroview_acc:.1f} vs {mvcnn_acc:.1f}", reproduced=neuroview_acc - mvcnn_acc >= -ON_PAR_POINTS)


@BOOK.rule("fig5_views_differ_per_class", owner=NB32, source="Fig. 5 / §4.4",
           statement="some classes draw on several views positively, others on only one",
           paper="class 16: 4 positive views; class 8: 1 positive view",
           quantity="number of views with a positive mean unit weight, per class",
           criterion="reproduced if some class has >= 2 positive views and another <= 1; partly if the counts differ "
                     "between classes but not across that line; not reproduced if every class has the same count; "
                     f"not checked if the net's test accuracy < {TRAINED_TEST_ACC:g} %")
def fig5_views_differ_per_class(positive_views: Mapping[str, int], test_acc: float) -> Outcome:
    if (o := _trained(network=test_acc)):
        return o
    counts = list(positive_views.values())
    ours = f"positive views per class range {min(counts)}–{max(counts)} ({dict(positive_views)})"
    return graded(ours, reproduced=max(counts) >= 2 and min(counts) <= 1, partly=max(counts) > min(counts))


@BOOK.rule("fig6_sound_last_two_layers", owner=NB32, source="Fig. 6 / §4.5",
           statement="for sound classes most significant positive weights are in the last two conv layers",
           paper="classes 4 and 8: most large positive weights in conv4-conv5",
           quantity="share of the top-5% positive weights (all sound classes pooled) in the last two conv layers, "
                    "and those layers' share of all units",
           criterion="reproduced if the share > 0.5; partly if it is at most 0.5 but above the units' share; not "
                     f"reproduced otherwise; not checked if the net's test accuracy < {TRAINED_TEST_ACC:g} %")
def fig6_sound_last_two_layers(deep_share: float, unit_share: float, test_acc: float) -> Outcome:
    if (o := _trained(network=test_acc)):
        return o
    ours = f"last 2 conv layers hold {deep_share:.0%} of the top positive weights (their unit share {unit_share:.0%})"
    return graded(ours, reproduced=deep_share > 0.5, partly=deep_share > unit_share)


@BOOK.rule("fig6_sound_differs_from_images", owner=NB32, source="Fig. 6 / §4.5",
           statement="the same NeuroView network prioritises units differently for spectrograms than for images",
           paper="different prioritisation than on Places10",
           quantity="total-variation distance between the per-layer shares of the top-5% positive weights, sound net "
                    "vs scene net (same AlexNet layout)",
           criterion=f"reproduced if TV >= {DIFFERENT_TV:g}; not reproduced below; not checked if either net's test "
                     f"accuracy < {TRAINED_TEST_ACC:g} %", verdicts=TWO_WAY_NC)
def fig6_sound_differs_from_images(tv: float, sound_acc: float, scenes_acc: float) -> Outcome:
    if (o := _trained(sound=sound_acc, scenes=scenes_acc)):
        return o
    return graded(round(tv, 3), reproduced=tv >= DIFFERENT_TV, note=f"TV distance {tv:.2f}")


@BOOK.rule("table1_urbansound_on_par", owner=NB32, source="Table 1 (UrbanSound8k)",
           statement="NeuroView AlexNet on spectrograms is on par with AlexNet",
           paper="74.3 vs 73.1",
           quantity="test accuracy (%) of NeuroView AlexNet vs plain AlexNet on spectrograms, and both nets' "
                    "last-epoch training accuracy",
           criterion=f"reproduced if |NeuroView − plain| <= {ON_PAR_POINTS:g} points; not reproduced otherwise; not "
                     f"checked unless both nets reach {CONVERGED_TRAIN_ACC:g} % training accuracy", verdicts=TWO_WAY_NC)
def table1_urbansound_on_par(neuroview_acc: float, plain_acc: float, neuroview_train_acc: float,
                             plain_train_acc: float) -> Outcome:
    if (o := _converged(neuroview=neuroview_train_acc, plain=plain_train_acc)):
        return o
    return graded(f"{neuroview_acc:.1f} vs {plain_acc:.1f}", reproduced=abs(neuroview_acc - plain_acc) <= ON_PAR_POINTS)


__all__ = ["BOOK", "ON_PAR_POINTS", "CONVERGED_TRAIN_ACC", "TRAINED_TEST_ACC", "DIFFERENT_TV", "FIG4_PAPER_CONCEPTS",
           "on_par_row", "REPRODUCED", "PARTLY", "NOT_REPRODUCED", "NOT_CHECKED"]
