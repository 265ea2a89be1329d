from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "21_layerwise_influence"
OBJECTIVES = [
    "write Koh & Liang's influence of a training image on a test loss (Eq. 5) and what each factor means",
    "compute a layer's inverse-Hessian-vector product exactly for a small block, with damping",
    "state the sign convention: Eq. 5's I_up,loss versus the paper's S = −Eq. 5 (high = helpful)",
    "sum layer-wise scores into I_total (Eq. 7) and average them within a class (I_avg)",
]
EQUATIONS = r"""
## Layer-wise influence (Aamir et al. Eq. 5–7, after Koh & Liang)

For a training image $x_j$ and a test image $\hat x_k$, with $\hat\theta$ the trained parameters and
$H_{\hat\theta} = \frac1n\sum_i \nabla^2_\theta L(x_i,\hat\theta)$:

$$I_{\text{up,loss}}(x_j, \hat x_k) = -\nabla_\theta L(\hat x_k,\hat\theta)^\top\,H_{\hat\theta}^{-1}\,
\nabla_\theta L(x_j,\hat\theta)\qquad\text{(Eq. 5)}$$

Layer-wise (Eq. 6) the gradient and the Hessian are restricted to layer $l$'s parameters $\theta^l$
(one diagonal block $H_l$, damped by $\lambda$ = `DAMPING`); the library solves
$s_l = (H_l + \lambda I)^{-1}\nabla_{\theta^l} L(\hat x_k)$ (`solvers.ExactSolver` / `WoodburySolver` / `CGSolver`)
and scores every training image with $S_l(x_j,\hat x_k) = \nabla_{\theta^l}L(x_j)^\top s_l$, the paper's sign
$S = -\text{(Eq. 5)}$, high = helpful (`aamir.PAPER_SIGN`). Then

$$I_{\text{total}} = \sum_{l=1}^{16} S_l \quad\text{(Eq. 7)},\qquad
I_{\text{avg}}(\hat x_k) = \frac{1}{|\{j: y_j = c_k\}|}\sum_{j:\,y_j=c_k} I_{\text{total}}(x_j,\hat x_k)$$

with $c_k$ the class of the test image $\hat x_k$ (`layerwise.LayerwiseInfluence(...).scores(...)`, `.total`, `layerwise.intra_class_average`).
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("21.1", "implement", "An inverse-HVP on a 2×2 Hessian",
             "**Implement.** `H` is a layer's 2×2 Hessian block, `g_test` the test image's gradient and `damping` λ. "
             "Compute $s = (H + \\lambda I)^{-1} g_{\\text{test}}$.",
             GIVEN + "H, g_test, damping = exercises.hessian_2x2()\n",
             "answer = torch.linalg.solve(H + damping * torch.eye(2, dtype=H.dtype), g_test)",
             "checks.check_inverse_hvp(answer)",
             ("answer = torch.linalg.solve(H, g_test)",
              "answer = (H + damping * torch.eye(2, dtype=H.dtype)) @ g_test")),
    Exercise("21.2", "implement", "One training image's score, with the paper's sign",
             "**Implement.** With the same `H` and `damping`, the test gradient `g_test` and one training image's "
             "gradient `g_train`, compute the paper-sign score $S$. Does this training image help or hurt the "
             "test image?",
             GIVEN + "H, damping, g_test, g_train = exercises.influence_pair()\n",
             "s = torch.linalg.solve(H + damping * torch.eye(2, dtype=H.dtype), g_test)\n"
             "answer = (g_train @ s).item()",
             "checks.check_paper_sign_score(answer)",
             ("s = torch.linalg.solve(H + damping * torch.eye(2, dtype=H.dtype), g_test)\n"
              "answer = -(g_train @ s).item()",)),
    Exercise("21.3", "implement", "I_avg of one test image",
             "**Implement.** `train_scores` are the I_total scores of 12 training images on one test image, "
             "`train_labels` their classes and `test_label` the test image's class. Compute its intra-class I_avg.",
             GIVEN + "train_scores, train_labels, test_label = exercises.class_scores(SEED)\n",
             "answer = train_scores[train_labels == test_label].mean().item()",
             "checks.check_intra_class_average(answer, seed=SEED)",
             ("answer = train_scores.mean().item()", "answer = train_scores[train_labels == test_label].sum().item()")),
]
