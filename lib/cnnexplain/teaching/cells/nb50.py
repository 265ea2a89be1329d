from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "50_influence_vs_retraining"
OBJECTIVES = [
    "derive the influence function's prediction of the test-loss change when one training point is removed",
    "train to a true optimum (Adam, then L-BFGS) and say why the gradient norm matters",
    "compare predictions with leave-one-out retraining (Koh & Liang Fig. 2) by Pearson's r",
    "explain what damping and the layer-wise (block-diagonal) Hessian do to the predictions",
]
EQUATIONS = r"""
## Influence functions vs leave-one-out retraining (Koh & Liang 2017, Eq. 1–2)

With $\hat\theta = \arg\min_\theta \frac1n\sum_i L(z_i,\theta) + \frac{\lambda_{wd}}{2}\lVert\theta\rVert^2$ (`WEIGHT_DECAY`) and
$H_{\hat\theta}$ the Hessian of that risk, up-weighting training point $z_j$ by $\varepsilon$ changes the test loss by

$$I_{\text{up,loss}}(z_j, \hat z) = \frac{d L(\hat z, \hat\theta_{\varepsilon})}{d\varepsilon}\Big|_{\varepsilon=0}
= -\nabla_\theta L(\hat z,\hat\theta)^\top H_{\hat\theta}^{-1}\nabla_\theta L(z_j,\hat\theta),$$

and removing it is $\varepsilon = -1/n$:
$L(\hat z, \hat\theta_{-j}) - L(\hat z, \hat\theta) \approx -\frac1n I_{\text{up,loss}}(z_j,\hat z)$
(`layerwise.predicted_removal_change`; `global_influence` solves with the full Hessian by CG, damped by
`DAMPING`; the layer-wise total uses only its diagonal blocks). The actual change comes from
`leave_one_out_loss_changes` (warm-started L-BFGS retraining without $z_j$).
"""
GIVEN = "import numpy as np\nimport torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("50.1", "implement", "Predicted change on removal",
             "**Implement.** `H` is the Hessian, `g_test` the test-loss gradient, `g_train` one training point's "
             "gradient and `n` the training-set size. Compute the predicted change of the test loss when that "
             "point is removed.",
             GIVEN + "H, g_test, g_train, n = exercises.removal_problem()\n",
             "i_up = -(g_test @ torch.linalg.solve(H, g_train))\nanswer = (-i_up / n).item()",
             "checks.check_predicted_removal(answer)",
             ("i_up = -(g_test @ torch.linalg.solve(H, g_train))\nanswer = (i_up / n).item()",
              "i_up = -(g_test @ torch.linalg.solve(H, g_train))\nanswer = i_up.item()")),
    Exercise("50.2", "implement", "Fig. 2's correlation",
             "**Implement.** `pred_change` and `true_change` are the predicted and retrained test-loss changes of 12 "
             "removals. Compute Pearson's r.",
             GIVEN + "pred_change, true_change = exercises.predicted_and_actual(SEED)\n",
             "answer = np.corrcoef(pred_change, true_change)[0, 1]",
             "checks.check_pearson(answer, seed=SEED)",
             ("from scipy.stats import spearmanr\nanswer = spearmanr(pred_change, true_change).statistic",)),
    Exercise("50.3", "parameter", "More damping",
             "**Change a parameter and explain.** Replace `H` by `H + damping * I` for damping 0, 0.1 and 1 and "
             "recompute the prediction of 50.1. Do the predicted changes `'shrink'`, `'grow'` or stay "
             "`'unchanged'` in magnitude? Explain with the eigenvalues of $(H + \\lambda I)^{-1}$.",
             GIVEN + "H, g_test, g_train, n = exercises.removal_problem()\n",
             "sizes = [abs((g_test @ torch.linalg.solve(H + d * torch.eye(2, dtype=H.dtype), g_train)).item())\n"
             "         for d in (0.0, 0.1, 1.0)]\n"
             "answer = 'shrink' if sizes[2] < sizes[0] else 'grow'",
             "checks.check_damping_effect(answer)",
             ("answer = 'grow'", "answer = 'unchanged'")),
]
