from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "40_survey_taxonomy"
OBJECTIVES = [
    "name the survey's four aspects of CNN interpretability and their topics (Fig. 1)",
    "place each explanation method in its family: gradient, propagation, perturbation, surrogate, CAM",
    "tell model-agnostic methods (forward queries only) from methods that need the model's internals",
    "find which notebook runs which method",
]
EQUATIONS = r"""
## What an attribution is (Zhang et al. 2019, §3.3)

Every feature-importance method of the registry (`attribution.METHODS`) maps a model's class score
$S_c(x)$ and an input $x \in \mathbb{R}^{C\times H\times W}$ to a map $a = \mathcal{E}(S_c, x)$ of the same shape
(`attribution.explain(model, images, target, method=...)`). The families differ in what they may use:
gradient methods read $\nabla_x S_c(x)$ (saliency: $a = |\nabla_x S_c(x)|$), perturbation methods only
forward queries $S_c(x')$ on altered inputs $x'$ (occlusion: $a_p = S_c(x) - S_c(x_{\setminus p})$), surrogates fit
a simple model $g$ to such queries (LIME: $\min_g \sum_{x'} \pi_x(x')\,(S_c(x') - g(x'))^2 + \Omega(g)$), and CAMs
weight activation maps. A method is *model-agnostic* when it needs nothing but $S_c(\cdot)$
(`METHODS[m].needs_internals` is False).
"""
GIVEN = "from cnnexplain.teaching import checks, exercises\nfrom cnnexplain.methods.attribution.explain import METHODS\n"
EXERCISES = [
    Exercise("40.1", "predict", "Which methods need the model's internals?",
             "**Predict, then run.** Of `exercises.METHOD_CHOICES` (saliency, integrated gradients, occlusion, "
             "LIME, KernelSHAP, Grad-CAM, LRP), which need the model's internals (gradients, layers, activations), "
             "i.e. are *not* model-agnostic? Set `answer` to a set of names; then look at "
             "`METHODS[name].needs_internals`.",
             GIVEN, "answer = {m for m in exercises.METHOD_CHOICES if METHODS[m].needs_internals}",
             "checks.check_needs_internals(answer)",
             ("answer = {'saliency', 'gradcam'}", "answer = set(exercises.METHOD_CHOICES)")),
    Exercise("40.2", "predict", "Families",
             "**Predict.** Give the family of `'occlusion'`, `'lime'`, `'gradcam'` and `'saliency'` as a dict "
             "`{method: family}` (families: `sorted({i.family for i in METHODS.values()})`).",
             GIVEN, "answer = {m: METHODS[m].family for m in ['occlusion', 'lime', 'gradcam', 'saliency']}",
             "checks.check_method_family(answer)",
             ("answer = {m: 'gradient' for m in ['occlusion', 'lime', 'gradcam', 'saliency']}",)),
]
