from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "41_attribution_gallery"
OBJECTIVES = [
    "run every surveyed explanation method through one call, explain(model, images, target, method=...)",
    "write the formulas of saliency, gradient × input, integrated gradients, SmoothGrad, CAM and Grad-CAM",
    "use completeness to check an attribution (IG adds up to the score change)",
    "say why CAM needs global average pooling and Grad-CAM does not",
]
EQUATIONS = r"""
## The attribution formulas (Zhang et al. §3.3; `cnnexplain.methods.attribution.explain`)

For class score $S_c$ (logit), image $x$ and baseline $\bar x$ (`baseline=0.0`):

$$\text{saliency: } a = \nabla_x S_c(x),\qquad \text{gradient}\times\text{input: } a = x \odot \nabla_x S_c(x),$$
$$\text{integrated gradients: } a = (x - \bar x) \odot \int_0^1 \nabla_x S_c\big(\bar x + \alpha(x - \bar x)\big)\,d\alpha
\quad(\texttt{n\_steps}),\qquad \textstyle\sum a = S_c(x) - S_c(\bar x),$$
$$\text{SmoothGrad: } a = \tfrac1n \textstyle\sum_{i=1}^n \nabla_x S_c(x + \varepsilon_i),\ \varepsilon_i \sim \mathcal N(0, \sigma^2)
\quad(\texttt{n\_samples, noise\_level}),$$
$$\text{CAM: } M_c = \textstyle\sum_k w_{c,k} A_k,\qquad
\text{Grad-CAM: } M_c = \mathrm{ReLU}\big(\textstyle\sum_k \alpha_{c,k} A_k\big),\ \alpha_{c,k} = \frac{1}{HW}\sum_{h,w}\frac{\partial S_c}{\partial A_{k,h,w}},$$

with $A_k$ the last conv layer's maps and $w_{c,k}$ the weights of the linear layer after global average
pooling (which is why CAM needs one).
"""
GIVEN = "import torch\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("41.1", "implement", "Gradient × input on a linear model",
             "**Implement.** `model` is a linear classifier on `(1, 2, 3)` images, `x` one image `(1, 1, 2, 3)` and "
             "`target` the class to explain. Compute gradient × input with autograd (`x.requires_grad_()`, "
             "`model(x)[0, target].backward()`) or from the weights. Compare with "
             "`explain(model, x, torch.tensor([target]), method='gradient_x_input')`.",
             GIVEN + "model, x, target = exercises.linear_model(SEED)\n",
             "x = x.clone().requires_grad_()\nmodel(x)[0, target].backward()\nanswer = (x.grad * x).detach()",
             "checks.check_gradient_x_input(answer, seed=SEED)",
             ("x = x.clone().requires_grad_()\nmodel(x)[0, target].backward()\nanswer = x.grad.detach()",)),
    Exercise("41.2", "predict", "What integrated gradients add up to",
             "**Predict, then run.** With a zero baseline, what is the sum of the integrated-gradients "
             "attributions of `x` for class `target`? Predict it from two forward passes, then compare with "
             "`explain(..., method='integrated_gradients').sum()`.",
             GIVEN + "model, x, target = exercises.linear_model(SEED)\n",
             "with torch.no_grad():\n    answer = (model(x)[0, target] - model(torch.zeros_like(x))[0, target]).item()",
             "checks.check_ig_sum(answer, seed=SEED)",
             ("with torch.no_grad():\n    answer = model(x)[0, target].item()",)),
]
