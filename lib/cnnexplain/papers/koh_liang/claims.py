"""The claims of Koh & Liang 2017, influence functions, each a rule written before the data (:mod:`cnnexplain.claims`).

Notebook 50 owns them. Not a claim: the correlation of the *layer-wise total* (Aamir et al.'s Eq. 7,
block-diagonal Hessian) with retraining. Neither paper states it (Aamir et al. never compare with
retraining), so notebook 50 records it as a value beside the global one, without a verdict.
"""

from __future__ import annotations

from cnnexplain.claims import ClaimBook, Outcome, below_floor, graded, not_checked

BOOK = ClaimBook("koh_liang", "Koh & Liang 2017, influence functions")

#: Koh & Liang's Fig. 2 (CNN panel): Pearson r between predicted and retrained leave-one-out loss changes.
FIG2_CNN_PEARSON = 0.875
#: Preconditions of a meaningful comparison: a trained net (10 classes: chance 0.1), enough removals for a
#: correlation, and a retraining that resolves the changes (its drift with nothing removed below them).
FIG2_ACCURACY_FLOOR = 0.5
FIG2_MIN_REMOVALS = 10


@BOOK.rule("koh_liang_fig2_cnn_pearson", owner="50_influence_vs_retraining", source="Koh & Liang 2017, Fig. 2 (CNN)",
           statement="Influence functions predict the leave-one-out change in test loss (Pearson r)",
           paper=FIG2_CNN_PEARSON,
           quantity="Pearson r between the predicted change -I_up,loss/n (global Hessian, damped) and the actual "
                    "change after removing each of the most influential training images and retraining "
                    "(warm-started L-BFGS, control drift subtracted)",
           criterion=f"reproduced if r >= {FIG2_CNN_PEARSON - 0.05:.3f} (the paper's {FIG2_CNN_PEARSON} less 0.05); "
                     "partly if r >= 0.5; not reproduced below; not checked if the net's test accuracy < "
                     f"{FIG2_ACCURACY_FLOOR:g}, fewer than {FIG2_MIN_REMOVALS} removals, or the control "
                     "retraining's drift |d| exceeds the median |actual change| (retraining cannot resolve them)")
def koh_liang_fig2_cnn_pearson(pearson: float, accuracy: float, n_removals: int, control_drift: float,
                               median_abs_actual: float, spearman: float | None = None) -> Outcome:
    if (o := below_floor("test accuracy", accuracy, FIG2_ACCURACY_FLOOR)):
        return o
    if n_removals < FIG2_MIN_REMOVALS:
        return not_checked(f"precondition failed: {n_removals} removals, fewer than {FIG2_MIN_REMOVALS}",
                           round(float(pearson), 3))
    if abs(control_drift) > median_abs_actual:
        return not_checked(f"precondition failed: control drift {control_drift:.2e} exceeds the median |actual "
                           f"change| {median_abs_actual:.2e}", round(float(pearson), 3))
    note = f"Spearman {spearman:.3f}" if spearman is not None else ""
    return graded(round(float(pearson), 3), reproduced=pearson >= FIG2_CNN_PEARSON - 0.05, partly=pearson >= 0.5,
                  note=note)
