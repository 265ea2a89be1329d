from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "11_influential_mnist"
OBJECTIVES = [
    "compute input scores of a CNN's pixels with respect to every output class (Fig. 1, 6)",
    "read a red/blue score map: evidence for a class and against it",
    "sum a convolutional layer's scores per filter to get the filter scores of Fig. 7",
    "measure the positive share of a score map and use it to compare classes",
]
EQUATIONS = r"""
## Input scores and filter scores (Jung et al. §II-B, §III)

In a CNN, the influential *tensor* of a convolution generalises the matrix: node $i$ of layer $l$ feeds node
$j$ of layer $l+1$ through the kernel weight that connects them, and $\mathcal{J}^{l,l+1}_{i,j} =
w_{i,j} L^l_i / \sum_{i'} |w_{i',j} L^l_{i'}|$ as for a dense layer (a max-pool passes the score of the
node it picked). The **input scores** w.r.t. output node $c$ are
$s_c(p) = \mathcal{S}^{\text{input}\to\text{output}}_{p,c}$ for every pixel $p$
(`influential_scores(model, x, source="input", target="output")`, shape `(N, 10, 1, 28, 28)`), and the
**filter scores** of layer L1 sum a filter $f$'s node scores over its map,

$$F_{c}(f) = \sum_{u,v} s^{L1}_{c}(f, u, v)\qquad(\texttt{filter\_scores(layer\_scores)}).$$

The positive share of a map is $\sum_p s^+_c(p) / \sum_p |s_c(p)|$.
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("11.1", "implement", "Filter scores",
             "**Implement.** `layer_scores` are the scores of a 5-filter conv layer w.r.t. one output node, shape "
             "`(N=1, T=1, C=5, H=4, W=4)`. Compute the 5 filter scores of the first image and node.",
             GIVEN + "layer_scores = exercises.conv_layer_scores(SEED)\n",
             "answer = layer_scores[0, 0].sum(dim=(-2, -1))",
             "checks.check_filter_scores(answer, seed=SEED)",
             ("answer = layer_scores[0, 0].abs().sum(dim=(-2, -1))",
              "answer = layer_scores[0, 0].mean(dim=(-2, -1))")),
    Exercise("11.2", "implement", "Positive share of a score map",
             "**Implement.** `digit_scores` is a 28×28 map of signed input scores for one class. Compute its positive "
             "share $\\sum s^+ / \\sum |s|$. Would you expect it above or below 0.5 for the class the net predicts?",
             GIVEN + "digit_scores = exercises.input_score_map(SEED)\n",
             "answer = (digit_scores.clamp_min(0).sum() / digit_scores.abs().sum()).item()",
             "checks.check_positive_share(answer, seed=SEED)",
             ("answer = (digit_scores.clamp_min(0).sum() / digit_scores.sum()).item()",
              "answer = (digit_scores > 0).float().mean().item()")),
]
