from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "24_shapley_maps"
OBJECTIVES = [
    "define the Shapley value of an image region as its average marginal contribution",
    "use the efficiency property to check a Shapley map (it adds up to the score change)",
    "run shap's Partition explainer with a blurring Image masker on the four conditions",
    "compare how spread out the influential regions of styled and textured images are (Fig. 10)",
]
EQUATIONS = r"""
## Shapley values of image regions (Aamir et al. §4.2.4; shap's Partition explainer)

With $N$ the set of regions (players) and $v(S)$ the class score when only the regions in $S$ are shown
(the others blurred by the `Image` masker), the Shapley value of region $i$ is

$$\phi_i = \sum_{S \subseteq N\setminus\{i\}} \frac{|S|!\,(|N|-|S|-1)!}{|N|!}\,\big(v(S\cup\{i\}) - v(S)\big),
\qquad \sum_{i\in N}\phi_i = v(N) - v(\varnothing)\ \text{(efficiency)}.$$

The Partition explainer approximates it on a hierarchy of regions with `MAX_EVALS` forward passes per
image (`aamir.shapley_maps` through shap); the maps are what Fig. 10 shows per condition.
"""
GIVEN = "import itertools, math\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("24.1", "implement", "An exact Shapley value",
             "**Implement.** `game` maps every coalition (a `frozenset` of regions 0, 1, 2) to its value. Compute "
             "the exact Shapley value of region 0 by enumerating coalitions (or orders).",
             GIVEN + "game = exercises.three_player_game()\n",
             "n, others = 3, [1, 2]\n"
             "answer = sum(math.factorial(len(S)) * math.factorial(n - len(S) - 1) / math.factorial(n)\n"
             "             * (game[frozenset(S) | {0}] - game[frozenset(S)])\n"
             "             for k in range(3) for S in itertools.combinations(others, k))",
             "checks.check_shapley_value(answer)",
             ("answer = game[frozenset({0})] - game[frozenset()]",
              "answer = game[frozenset({0, 1, 2})] - game[frozenset({1, 2})]")),
    Exercise("24.2", "predict", "What a Shapley map adds up to",
             "**Predict.** Without computing any Shapley value: what is $\\phi_0 + \\phi_1 + \\phi_2$ for this "
             "game? Then verify with your function from 24.1.",
             GIVEN + "game = exercises.three_player_game()\n",
             "answer = game[frozenset({0, 1, 2})] - game[frozenset()]",
             "checks.check_shapley_sum(answer)",
             ("answer = game[frozenset({0, 1, 2})]",)),
]
