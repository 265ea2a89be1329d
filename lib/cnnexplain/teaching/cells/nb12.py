from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "12_influential_real_fake"
OBJECTIVES = [
    "state what the offline stand-in data is, and what it cannot show about real GAN faces",
    "compute input scores per colour channel for a two-output detector (Fig. 8)",
    "select the most informative pixels as the top fraction of the summed scores",
    "compare the colour channels' shares of the score mass",
]
EQUATIONS = r"""
## Per-channel input scores and the informative pixels (Jung et al. Fig. 8)

For an RGB image, the input scores w.r.t. the predicted node $c$ have one value per channel and pixel,
$s_c(k, u, v)$, $k \in \{R, G, B\}$ (`influential_scores(model, x, source="input")[n, c]`, shape `(3, H, W)`).
The red dots of Fig. 8 are the pixels whose channel-summed score is among the top fraction $\rho$
(`TOP_FRACTION`, `top_fraction_mask(scores, rho)`):

$$\mathcal{P}_\rho = \Big\{(u,v) : \sum_k s_c(k,u,v) \ge t_\rho\Big\},\qquad
|\mathcal{P}_\rho| = \mathrm{round}(\rho\,HW),$$

and a channel's share of the evidence is $\sum_{u,v}|s_c(k,u,v)| / \sum_{k',u,v}|s_c(k',u,v)|$. For two
outputs, the scores for "real" and "fake" have opposite signs.
"""
GIVEN = "import numpy as np\nimport torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("12.1", "implement", "The informative pixels",
             "**Implement.** `rgb_scores` are the per-channel input scores `(3, 16, 16)` of one image. Build the "
             "boolean `(16, 16)` mask of the 5 % pixels with the highest channel-summed scores (ties: keep all).",
             GIVEN + "rgb_scores = exercises.rgb_scores(SEED)\n",
             "summed = rgb_scores.sum(0)\n"
             "n_top = round(0.05 * summed.numel())\n"
             "answer = summed >= summed.flatten().topk(n_top).values.min()",
             "checks.check_top_fraction_mask(answer, seed=SEED)",
             ("answer = rgb_scores.sum(0).abs() >= rgb_scores.sum(0).abs().flatten().topk(13).values.min()",
              "answer = rgb_scores.sum(0) >= rgb_scores.sum(0).flatten().topk(20).values.min()")),
    Exercise("12.2", "implement", "Colour channels' shares",
             "**Implement.** For the same `rgb_scores`, compute each colour channel's share of the total score "
             "magnitude (3 numbers that sum to 1). Which channel carries most of the evidence here?",
             GIVEN + "rgb_scores = exercises.rgb_scores(SEED)\n",
             "per_channel = rgb_scores.abs().sum(dim=(1, 2))\nanswer = per_channel / per_channel.sum()",
             "checks.check_channel_shares(answer, seed=SEED)",
             ("answer = rgb_scores.sum(dim=(1, 2)) / rgb_scores.sum()",)),
]
