from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "10_influential_synthetic"
OBJECTIVES = [
    "compute one entry of Jung et al.'s influential matrix by hand from a layer's weights and node values",
    "explain why influential scores lie in [−1, 1] and what their sign means",
    "chain the matrices into influential scores between any two layers (the snapshot's product)",
    "read the rank frequencies of Fig. 3 and why inputs near 0 get low scores",
]
EQUATIONS = r"""
## The influential matrix and the influential scores (Jung et al. §II-A)

For one input, the snapshot records every node value $L^l_i$ (`snapshot(model, x).values[l]`). Between
layer $l$ (node $i$) and layer $l+1$ (node $j$), with weight $w^l_{i,j}$ (PyTorch stores it as
`layer.weight[j, i]`):

$$\mathcal{J}^{l,l+1}_{i,j} = \frac{w^l_{i,j}\,L^l_i}{\sum_{i'} \big|w^l_{i',j}\,L^l_{i'}\big|}
\qquad(\texttt{reference.dense\_matrix(weight, values)})$$

and the influential scores of layer $l$ on layer $m$ are the product
$\mathcal{S}^{l\to m} = \mathcal{J}^{l,l+1}\,\mathcal{J}^{l+1,l+2}\cdots\mathcal{J}^{m-1,m}$
(`influential_scores(model, x, source=l, target=m)`, computed by a modified backward pass without building
the matrices). Each entry lies in $[-1, 1]$; its sign says whether node $i$ pushes node $j$ up or down.
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("10.1", "implement", "One influential-matrix entry by hand",
             "**Implement.** `layer_weight` is a dense layer's weight in PyTorch's layout (3 outputs × 4 inputs) and "
             "`node_values` its 4 input node node_values $L_i$. Compute $\\mathcal{J}_{i,j}$ for input node $i = 2$ and "
             "output node $j = 1$ (0-based) with plain tensor operations.",
             GIVEN + "layer_weight, node_values = exercises.jung_layer(SEED)\n",
             "contributions = layer_weight[1] * node_values          # w_{i,1} L_i for every input node i\n"
             "answer = (contributions[2] / contributions.abs().sum()).item()",
             "checks.check_influential_entry(answer, seed=SEED)",
             ("answer = (layer_weight[1, 2] * node_values[2] / (layer_weight[1] * node_values).sum()).item()",
              "answer = (layer_weight[2, 1] * node_values[1] / (layer_weight[2] * node_values).abs().sum()).item()")),
    Exercise("10.2", "predict", "The toy min network at a new input",
             "**Predict, then run.** Fig. 2's toy network has $h_1 = \\mathrm{ReLU}(i_1 - i_2)$. At the input "
             "$(i_1, i_2) = (3, 1)$, what is the influential score of $i_2$ on $h_1$? Compute it on paper, set "
             "`answer`, then confirm with `influential_scores(toy_min_network(), x_toy3, source='input', target=2)`.",
             GIVEN + "from cnnexplain.methods.influential_scores.fast import influential_scores\n"
                     "from cnnexplain.papers.jung.synthetic import toy_min_network\n"
                     "x_toy3 = exercises.toy_input()   # tensor([[3., 1.]])\n",
             "answer = -1 * 1 / (abs(1 * 3) + abs(-1 * 1))",
             "checks.check_toy_score(answer)",
             ("answer = 1 / 4", "answer = -1 / 3")),
    Exercise("10.3", "parameter", "Scale the input",
             "**Change a parameter and explain.** Multiply the toy network's input by 10. What happens to the "
             "input → output influential scores: `'unchanged'`, `'scaled'` (by 10) or `'sign_flipped'`? Run "
             "`influential_scores(toy_net, 10 * x_toy3, source='input', target='output')` and write one sentence in a "
             "markdown cell on why (hint: the network has no biases).",
             GIVEN + "from cnnexplain.methods.influential_scores.fast import influential_scores\n"
                     "from cnnexplain.papers.jung.synthetic import toy_min_network\n"
                     "toy_net, x_toy3 = toy_min_network(), exercises.toy_input()\n",
             "scores_x = influential_scores(toy_net, x_toy3, source='input', target='output')\n"
             "scores_10x = influential_scores(toy_net, 10 * x_toy3, source='input', target='output')\n"
             "answer = 'unchanged' if torch.allclose(scores_x, scores_10x) else 'scaled'",
             "checks.check_scale_invariance(answer)",
             ("answer = 'scaled'",)),
]
