from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "42_measured_table1"
OBJECTIVES = [
    "turn the survey's opinion-based Table 1 into measured columns with stated rules",
    "compute a deletion-curve AUC and read it as faithfulness (Petsiuk et al.)",
    "measure completeness (local additivity) of an attribution",
    "run the cascading randomization sanity check and read its rank correlations (Adebayo et al.)",
]
EQUATIONS = r"""
## The measured columns (`cnnexplain.methods.attribution.metrics`)

**Deletion / insertion** (Petsiuk et al. 2018): delete (insert) the fraction $f$ of pixels ranked highest by
the attribution $a$; with $p_c(f)$ the class probability, $\mathrm{AUC} = \int_0^1 p_c(f)\,df$, by the
trapezoid rule over the measured fractions (`deletion_curve`, `curve_auc`); low deletion AUC = faithful.
**Completeness** (locally additive ⇔ median error ≤ 5 %; `completeness_error`):

$$\epsilon = \frac{\big|\sum_p a_p - (S_c(x) - S_c(\bar x))\big|}{|S_c(x) - S_c(\bar x)|}.$$

**Sanity check** (Adebayo et al. 2018; `sanity_check`): randomize layers top-down,
$\theta \to \theta^{(k)}$, and report Spearman's $\rho\big(|a(\theta)|, |a(\theta^{(k)})|\big)$; an explanation of
the *model* decorrelates. **Efficiency**: time per explanation / time of one gradient ≤ 10 ⇔ "High".
"""
GIVEN = "import numpy as np\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("42.1", "implement", "A deletion-curve AUC",
             "**Implement.** `del_fractions` (not evenly spaced) and `del_curve` give the class probability as pixels are "
             "deleted. Compute the area under the curve.",
             GIVEN + "del_fractions, del_curve = exercises.deletion_curve_data()\n",
             "answer = float(np.trapezoid(del_curve, del_fractions))",
             "checks.check_deletion_auc(answer)",
             ("answer = float(del_curve.mean())", "answer = float(np.trapezoid(del_fractions, del_curve))")),
    Exercise("42.2", "implement", "Completeness error",
             "**Implement.** `a` is an attribution map, `score_x` the class score of the image and `score_base` "
             "that of the baseline. Compute the relative completeness error. Is this method locally additive by "
             "the 5 % rule?",
             GIVEN + "a, score_x, score_base = exercises.completeness_data(SEED)\n",
             "delta = score_x - score_base\nanswer = abs(a.sum().item() - delta) / abs(delta)",
             "checks.check_completeness_error(answer, seed=SEED)",
             ("answer = abs(a.sum().item() - score_x) / abs(score_x)",
              "answer = abs(a.sum().item() - (score_x - score_base))")),
    Exercise("42.3", "implement", "One step of the sanity check",
             "**Implement.** `before` and `after` are a method's maps before and after randomizing the top layer. "
             "Compute the Spearman rank correlation of their absolute values (`scipy.stats.spearmanr`). Does this "
             "method pass the sanity check?",
             GIVEN + "from scipy.stats import spearmanr\nbefore, after = exercises.two_maps(SEED)\n",
             "answer = spearmanr(np.abs(before).ravel(), np.abs(after).ravel()).statistic",
             "checks.check_sanity_rank_correlation(answer, seed=SEED)",
             ("answer = spearmanr(before.ravel(), after.ravel()).statistic",
              "answer = np.corrcoef(np.abs(before).ravel(), np.abs(after).ravel())[0, 1]")),
]
