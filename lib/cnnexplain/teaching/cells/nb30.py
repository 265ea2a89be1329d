from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "30_neuroview_accuracy"
OBJECTIVES = [
    "turn a CNN into its NeuroView variant: soft-VQ codes of every unit into one linear classifier (Eq. 2)",
    "compute a unit's soft-VQ code and pool it over space",
    "compare a plain and a NeuroView network under the same training budget (Table 1, claim C1)",
    "explain why standardising the codes leaves the explanation untouched (folding into W and b)",
]
EQUATIONS = r"""
## NeuroView (Barberan et al. Eq. 1–2)

For unit $u$ of any convolutional layer with pre-activation map $z_u(x)$, the soft vector-quantisation
code is the probability that the unit is on, pooled over space (`soft_vq`, `pool_code(code, "max")` or `"mean"`):

$$q_u(x) = \operatorname{pool}_{(h,w)}\ \sigma\big(z_u(x)_{h,w}\big),\qquad \sigma(t) = \frac{1}{1+e^{-t}},$$

and all units of all layers, concatenated into $q(x) \in [0,1]^U$ ($U$ = `NeuroView(...).n_units`), feed one
linear classifier (`NeuroView.classifier`):

$$\hat y(x) = \operatorname{softmax}\big(W q(x) + b\big)\qquad\text{(Eq. 2)}.$$

`STANDARDIZE_CODES` inserts $(q - \mu)/s$ before the linear layer; after training it folds into
$W' = W/s$, $b' = b - W'\mu$ (`NeuroView.weights()`, `.bias()`), so $W'$ is Eq. 2's weight on the raw codes.
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("30.1", "implement", "A soft-VQ code",
             "**Implement.** `z` holds a conv layer's pre-activations `(N=2, C=3, H=4, W=4)`. Compute the "
             "max-pooled soft-VQ codes `(2, 3)`. Would pooling before the sigmoid give the same result?",
             GIVEN + "z = exercises.pre_activations(SEED)\n",
             "answer = torch.sigmoid(z).amax(dim=(2, 3))",
             "checks.check_soft_vq_code(answer, seed=SEED)",
             ("answer = torch.sigmoid(z).mean(dim=(2, 3))", "answer = z.clamp_min(0).amax(dim=(2, 3))")),
    Exercise("30.2", "implement", "Fold the standardisation into the classifier",
             "**Implement.** A classifier `W` (2 × 5), `b` acts on standardised codes `(q - mu) / s`. Give "
             "`answer = (W_folded, b_folded)` such that `q @ W_folded.T + b_folded` equals it for every code `q`.",
             GIVEN + "W, b, mu, s = exercises.standardized_classifier(SEED)\n",
             "W_folded = W / s\nanswer = (W_folded, b - W_folded @ mu)",
             "checks.check_folded_classifier(answer, seed=SEED)",
             ("W_folded = W / s\nanswer = (W_folded, b + W_folded @ mu)", "answer = (W * s, b)")),
    Exercise("30.3", "predict", "How wide is the classifier?",
             "**Predict, then run.** `backbone` has two convolutions (4 and 6 filters) and a dense head. How many "
             "inputs has the linear classifier of `NeuroView(backbone, 2, (3, 8, 8))`? Predict, then check "
             "`.n_units`.",
             GIVEN + "from cnnexplain.methods.neuroview import NeuroView\nbackbone = exercises.tiny_backbone()\n",
             "answer = NeuroView(backbone, 2, (3, 8, 8)).n_units",
             "checks.check_neuroview_units(answer)",
             ("answer = 4 + 6 + 2", "answer = 6 * 4 * 4 + 4 * 8 * 8")),
]
