from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "32_neuroview_case_studies"
OBJECTIVES = [
    "perturb test images by zeroing one colour channel and compare per-class accuracy drops (Table 2, Fig. 7)",
    "build a multi-view NeuroView network and read the per-view mean weights (Fig. 5)",
    "apply NeuroView to sound spectrograms and read its unit weights (Fig. 6)",
    "tell a class's reliance on a view or a channel from a bias-like offset of the weights",
]
EQUATIONS = r"""
## Perturbations and multi-view NeuroView (Barberan et al. §4.4–4.6)

Zeroing channel $k$ of an RGB image $x$ gives $x^{(-k)}$ with $x^{(-k)}_{k,\cdot,\cdot} = 0$ (`zero_channel(x, k)`),
and Table 2 compares the per-class accuracy drop $\mathrm{acc}_c(x) - \mathrm{acc}_c(x^{(-k)})$ of the plain
and the NeuroView network. A multi-view NeuroView concatenates the codes of $V$ trunks, one per view,
$q = [q^{(1)}, \dots, q^{(V)}]$, into one classifier (`MultiViewNeuroView`), so class $c$'s weights split
into per-view blocks and the per-view mean weight is

$$\bar W_{c,v} = \frac{1}{U_v}\sum_{u=1}^{U_v} W_{c,(v,u)}\qquad(\texttt{view\_mean\_weights()}).$$
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("32.1", "implement", "Zero the green channel",
             "**Implement.** `images` is an RGB batch `(2, 3, 4, 4)`. Return a copy with the green channel set to "
             "zero (leave `images` itself unchanged).",
             GIVEN + "images = exercises.rgb_batch(SEED)\n",
             "answer = images.clone()\nanswer[:, 1] = 0",
             "checks.check_zero_green(answer, seed=SEED)",
             ("answer = images.clone()\nanswer[:, 0] = 0",)),
    Exercise("32.2", "implement", "Per-view mean weights",
             "**Implement.** `W` is a multi-view classifier's weight `(3 classes, 4 views × 5 units)`, units "
             "concatenated view after view. Compute the `(3, 4)` mean weight per class and view.",
             GIVEN + "W = exercises.multiview_weights(SEED)\n",
             "answer = W.reshape(3, 4, 5).mean(dim=-1)",
             "checks.check_view_mean_weights(answer, seed=SEED)",
             ("answer = W.reshape(3, 5, 4).mean(dim=1)", "answer = W.reshape(3, 4, 5).sum(dim=-1)")),
]
