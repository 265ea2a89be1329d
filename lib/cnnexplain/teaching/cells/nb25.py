from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "25_retrain_by_layer"
OBJECTIVES = [
    "rank a net's layers by how far the textured condition's layer-wise influence departs from the original's",
    "fine-tune only chosen layers of a trained net with the same budget, and compare choices fairly",
    "judge whether a gain is beyond the spread of random choices, over seeds and draws",
    "test a paper's practical conclusion (which layers to retrain) where the answer can be measured",
]
EQUATIONS = r"""
## Which layers? The departure of Fig. 9's profiles

For layer $l$, the mean intra-class layer-wise influence $\bar I_{L}^{\,c}(l)$ of the test images of
condition $c$ (Fig. 9, notebook 21) and its standard deviation $s^c(l)$ over those images give the
standardised departure of the textured condition from the original

$$d(l) = \frac{\left|\bar I_{L}^{\,\text{textured}}(l) - \bar I_{L}^{\,\text{original}}(l)\right|}
{\sqrt{\tfrac12\left(s^{\text{original}}(l)^2 + s^{\text{textured}}(l)^2\right)}}
\qquad(\texttt{retrain.layer\_departure}),$$

scale-free, since the layers' scores differ by orders of magnitude. The top-$k$ layers by $d$ are the ones
the paper would retrain. After fine-tuning, the **shape bias** on cue-conflict images (Geirhos et al.)
$= \frac{\#\text{shape decisions}}{\#\text{shape} + \#\text{texture decisions}}$ says how far the texture bias
was overcome. The top-$k$ arm beats another arm only if $\bar b_{\text{top}} - \bar b_{\text{other}} >
\mathrm{sd}_{\text{top}} + \mathrm{sd}_{\text{other}}$ (over seeds and random draws).
"""
GIVEN = "import numpy as np\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("25.1", "implement", "Rank layers by departure",
             "**Implement.** `original` and `textured` hold the I_Lavg of 6 test images each (rows) over 5 layers "
             "(columns). Rank the layers (0-based indices) by their standardised departure d(l), largest first.",
             GIVEN + "original, textured = exercises.layer_scores_two_conditions(SEED)\n",
             "pooled = np.sqrt((original.var(0, ddof=1) + textured.var(0, ddof=1)) / 2)\n"
             "answer = np.argsort(-np.abs(textured.mean(0) - original.mean(0)) / pooled)",
             "checks.check_departure_ranking(answer, seed=SEED)",
             ("answer = np.argsort(-np.abs(textured.mean(0) - original.mean(0)))",
              "pooled = np.sqrt((original.var(0, ddof=1) + textured.var(0, ddof=1)) / 2)\n"
              "answer = np.argsort(np.abs(textured.mean(0) - original.mean(0)) / pooled)")),
    Exercise("25.2", "predict", "Is the top-k gain beyond the random spread?",
             "**Predict, then compute.** `top` is the shape bias after fine-tuning the top-k layers (3 seeds), "
             "`random` after fine-tuning k random layers (3 seeds × 4 draws). The top-k mean is higher — but is "
             "the gain beyond the spread (the rule of this notebook)? Answer True or False.",
             GIVEN + "top, random = exercises.arm_shape_biases()\n",
             "answer = bool(top.mean() - random.mean() > top.std(ddof=1) + random.std(ddof=1))",
             "checks.check_beyond_spread(answer)",
             ("answer = bool(top.mean() > random.mean())",)),
]
