"""Methods usable on any CNN, each independent of the papers that use it:

- :mod:`~cnnexplain.methods.influence_functions` — Hessian-vector products, inverse-HVP solvers and
  layer-wise influence functions (Koh & Liang; Aamir et al. Eq. 5–7), leave-one-out retraining;
- :mod:`~cnnexplain.methods.influential_scores` — Jung et al.'s influential matrices and scores;
- :mod:`~cnnexplain.methods.neuroview` — the NeuroView wrapper and a mini network dissection;
- :mod:`~cnnexplain.methods.attribution` — one ``explain`` call for the survey's attribution methods, and
  their metrics;
- :mod:`~cnnexplain.methods.style` (Gatys style transfer), :mod:`~cnnexplain.methods.disturb`
  (white background, object masks), :mod:`~cnnexplain.methods.shape_bias`.

Methods import only other methods and the small utilities (``cnnexplain.seeding``, ``progress``,
``train``, ``compat``, ``device``): never a paper, data set or notebook plumbing (tests/test_layers.py).
"""
