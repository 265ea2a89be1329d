from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "20_disturbed_dataset"
OBJECTIVES = [
    "build the paper's four test conditions: original, white background, textured and styled",
    "explain Gatys style and texture transfer through Gram matrices of feature maps",
    "measure a net's shape bias on cue-conflict images (Geirhos et al.)",
    "tell why a texture-biased net gets textured images wrong (Table 1, Table 3)",
]
EQUATIONS = r"""
## Style as Gram matrices; shape bias

Gatys et al. describe the *style* (texture) of an image by the Gram matrices of its feature maps: with
$F^l \in \mathbb{R}^{C \times HW}$ the flattened maps of layer $l$ (`features.reshape(B, C, H*W)`),

$$G^l = \frac{1}{HW}\,F^l (F^l)^\top \qquad(\texttt{style.gram\_matrix(features)}),$$

and style transfer minimises $\alpha\,\lVert F^{l_c}(x) - F^{l_c}(x_c)\rVert^2 +
\beta \sum_l \lVert G^l(x) - G^l(x_s)\rVert^2$ over the pixels $x$ (content image $x_c$, style image $x_s$;
`style.transfer`). The white-background image keeps the pixels of the object mask $m$:
$x_{\text{wb}} = m \odot x + (1 - m)\cdot 1$ (`disturb.white_background`). On cue-conflict images
(shape of one class, texture of another):

$$\text{shape bias} = \frac{\#\,\text{shape decisions}}{\#\,\text{shape decisions} + \#\,\text{texture decisions}}
\qquad(\texttt{shape\_bias.shape\_bias(pred, shape, texture)}).$$
"""
GIVEN = "import numpy as np\nimport torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("20.1", "implement", "Shape bias by hand",
             "**Implement.** `prediction`, `shape` and `texture` give, for 24 images, the predicted class and each "
             "image's shape class and texture class (numpy arrays). Some images have no cue conflict (shape = "
             "texture). Compute the shape bias.",
             GIVEN + "prediction, shape, texture = exercises.cue_conflict_decisions(SEED)\n",
             "is_conflict = shape != texture\n"
             "n_shape = (prediction == shape)[is_conflict].sum()\n"
             "n_texture = (prediction == texture)[is_conflict].sum()\n"
             "answer = n_shape / (n_shape + n_texture)",
             "checks.check_shape_bias(answer, seed=SEED)",
             ("answer = (prediction == shape)[shape != texture].mean()",
              "answer = (prediction == shape).sum() / ((prediction == shape) | (prediction == texture)).sum()")),
    Exercise("20.2", "implement", "The Gram matrix",
             "**Implement.** `fmaps` are one image's feature maps `(1, C=4, H=5, W=6)`. Compute its `(4, 4)` "
             "Gram matrix, normalised as in the equation above. What does it forget about the image?",
             GIVEN + "fmaps = exercises.feature_map(SEED)\n",
             "F = fmaps[0].reshape(4, -1)\nanswer = F @ F.T / F.shape[1]",
             "checks.check_gram_matrix(answer, seed=SEED)",
             ("F = fmaps[0].reshape(4, -1)\nanswer = F @ F.T",
              "F = fmaps[0].reshape(4, -1)\nanswer = F @ F.T / F.numel()")),
    Exercise("20.3", "implement", "A white background",
             "**Implement.** `image` is `(3, 8, 8)` in [0, 1], `mask` is `(8, 8)`, True on the object. Build the "
             "white-background image.",
             GIVEN + "image, mask = exercises.image_and_mask(SEED)\n",
             "answer = torch.where(mask, image, torch.ones_like(image))",
             "checks.check_white_background(answer, seed=SEED)",
             ("answer = torch.where(mask, torch.ones_like(image), image)",
              "answer = torch.where(mask, image, torch.zeros_like(image))")),
]
