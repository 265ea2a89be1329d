from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "31_neuroview_weights"
OBJECTIVES = [
    "read a class's row of NeuroView weights W[c] unit by unit and layer by layer (Fig. 3)",
    "measure where a class's strongest weights sit against each layer's share of units",
    "label units with concepts by a mini network dissection (IoU of thresholded code maps)",
    "sum weights per concept to get a class's top positive and negative concepts (Fig. 4) and know the caveat",
]
EQUATIONS = r"""
## Unit weights, layer shares and dissection (Barberan et al. §4.1–4.2)

Class $c$'s logit is $W_c^\top q(x) + b_c = \sum_u W_{c,u}\,q_u(x) + b_c$, so $W_{c,u}$
(`NeuroView.class_weights(c)`) is how much unit $u$ pushes class $c$ up ($>0$) or down. With $\mathcal{T}_c$ the
top fraction $\rho$ (`TOP_FRACTION`) of class $c$'s weights, layer $l$'s share is
$|\{u \in \mathcal{T}_c : \ell(u) = l\}| / |\mathcal{T}_c|$ (`top_weight_layer_shares`), against chance
$U_l/U$. Dissection (Bau et al.) thresholds unit $u$'s code map at its quantile $t_u$
(`DISSECTION_QUANTILE`) and labels it with the concept $k$ of highest

$$\mathrm{IoU}_{u,k} = \frac{|\{q_u > t_u\} \cap M_k|}{|\{q_u > t_u\} \cup M_k|}\qquad(\texttt{unit\_iou}),$$

and class $c$'s concept score sums its weights over the units labelled $k$: $C_{c,k} = \sum_{u:\,k(u)=k} W_{c,u}$
(`class_concepts`).
"""
GIVEN = "import numpy as np\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("31.1", "implement", "Where do the largest weights sit?",
             "**Implement.** `class_w` is one class's weights over 30 units and `unit_layer[u]` the layer (0, 1, 2) of unit "
             "`u`. Take the 6 largest (most positive) weights and give each layer's share among them (3 numbers). "
             "Compare with chance, `np.bincount(unit_layer) / 30`.",
             GIVEN + "class_w, unit_layer = exercises.class_weight_row(SEED)\n",
             "top = np.argsort(-class_w)[:6]\nanswer = np.bincount(unit_layer[top], minlength=3) / 6",
             "checks.check_top_weight_shares(answer, seed=SEED)",
             ("top = np.argsort(-np.abs(class_w))[:6]\nanswer = np.bincount(unit_layer[top], minlength=3) / 6",
              "answer = np.bincount(unit_layer, minlength=3) / 30")),
    Exercise("31.2", "implement", "One dissection IoU",
             "**Implement.** `unit_map` is a unit's code map (8 × 8), `threshold` its threshold and `concept` a "
             "concept's mask. Compute the IoU of the thresholded map with the mask.",
             GIVEN + "unit_map, threshold, concept = exercises.unit_map_and_concept(SEED)\n",
             "on = unit_map > threshold\nanswer = (on & concept).sum() / (on | concept).sum()",
             "checks.check_unit_iou(answer, seed=SEED)",
             ("on = unit_map > threshold\nanswer = (on & concept).sum() / concept.sum()",)),
]
