from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "22_texture_dose"
OBJECTIVES = [
    "recognise texture patches alone with a texture-biased net (Table 3)",
    "define a texture dose from the style loss of Gatys texture transfer",
    "follow the prediction and the intra-class influence along the dose and find where the prediction flips",
    "relate a falling I_avg to a training set that stops supporting the prediction (Fig. 6)",
]
EQUATIONS = r"""
## The texture dose (Fig. 6)

Texture transfer starts from the white-background image $x^{(0)}$ and takes Adam steps on the Gatys loss
towards the patch's Gram matrices; $L_{\text{style}}(k)$ is the style loss after step $k$
(`StyleResult.history["style"]`). Our measurable stand-in for the paper's "texture %":

$$\text{dose}(k) = 1 - \frac{L_{\text{style}}(k)}{L_{\text{style}}(0)} \in [0, 1]
\qquad(\texttt{StyleResult.dose()}),$$

and along the series we track $p(\text{content class}\mid x^{(k)})$, $p(\text{texture class}\mid x^{(k)})$
and the intra-class $I_{\text{avg}}(x^{(k)})$ of notebook 21 (paper sign: high = helpful).
"""
GIVEN = "import numpy as np\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("22.1", "implement", "Texture dose from a loss history",
             "**Implement.** `losses` is a style-loss history (index 0 = before the first step). Compute the "
             "dose at every step (9 values).",
             GIVEN + "losses = exercises.style_loss_history()\n",
             "answer = [1 - v / losses[0] for v in losses]",
             "checks.check_texture_dose(answer)",
             ("answer = [v / losses[0] for v in losses]", "answer = [losses[0] - v for v in losses]")),
    Exercise("22.2", "predict", "Where does the prediction flip?",
             "**Predict, then run.** `p_content` and `p_texture` are the net's probabilities of the content's "
             "class and the texture's class at every step. Look at them and predict the first step (0-based) at "
             "which the texture's class wins; then compute it.",
             GIVEN + "p_content, p_texture = exercises.dose_probabilities()\n",
             "answer = int(np.argmax(p_texture > p_content))",
             "checks.check_flip_step(answer)",
             ("answer = int(np.argmax(p_texture > p_content)) + 1",)),
]
