from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "00_tour"
OBJECTIVES = [
    "run a notebook in the three profiles (smoke, default, paper) and find its outputs",
    "train a small CNN with the library's deterministic loop and read its loss and accuracy",
    "say what a seed fixes, and why the same seed gives the same network",
    "count a convolution's parameters and compute an accuracy from logits by hand",
]
EQUATIONS = r"""
## The model in one line

A classifier maps an image $x$ to logits $z = f_\theta(x) \in \mathbb{R}^{10}$ (`model(x)`); the predicted
probabilities are $p = \mathrm{softmax}(z)$, $p_c = e^{z_c} / \sum_k e^{z_k}$ (`torch.softmax(..., dim=1)`),
and `train.fit` minimises the cross-entropy over the training set with Adam:

$$\mathcal{L}(\theta) = -\frac{1}{n}\sum_{i=1}^{n} \log p_{y_i}(x_i;\theta),\qquad
\text{accuracy} = \frac{1}{m}\sum_{j=1}^{m} \mathbf{1}\big[\arg\max_c z_c(x_j) = y_j\big]$$

($x_i, y_i$ = `x_train`, `y_train`; accuracy on `x_test`, `y_test` is `train.accuracy`).
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("00.1", "predict", "Parameters of a convolution",
             "**Predict, then run.** How many trainable parameters has `torch.nn.Conv2d(1, 8, kernel_size=3)` "
             "(1 input channel, 8 filters of 3×3)? Work it out on paper and set `answer` to the number; then "
             "check with `sum(p.numel() for p in layer.parameters())`.",
             GIVEN, "answer = 8 * 1 * 3 * 3 + 8", "checks.check_conv_parameters(answer)",
             ("answer = 8 * 3 * 3", "answer = 9")),
    Exercise("00.2", "implement", "Accuracy from logits",
             "**Implement.** `logits` holds 20 digits' logits over 10 classes and `labels` their true classes. "
             "Compute the accuracy (a share in [0, 1]) without calling the library.",
             GIVEN + "logits, labels = exercises.tour_logits(SEED)\n",
             "answer = (logits.argmax(dim=1) == labels).float().mean().item()",
             "checks.check_accuracy(answer, seed=SEED)",
             ("answer = (logits.argmax(dim=1) == labels).sum().item()",
              "answer = (logits.argmin(dim=1) == labels).float().mean().item()")),
    Exercise("00.3", "predict", "What a seed fixes",
             "**Predict.** Two networks are built as `cnnexplain.seed_everything(SEED); a = SmallCNN()` and "
             "`cnnexplain.seed_everything(SEED); b = SmallCNN()`. Are their initial weights identical? Set "
             "`answer = True` or `False`, then build both (`from cnnexplain.models.cnns import SmallCNN`) and "
             "compare with `torch.equal`.",
             GIVEN, "answer = True", "checks.check_same_seed_same_net(answer)", ("answer = False",)),
]
