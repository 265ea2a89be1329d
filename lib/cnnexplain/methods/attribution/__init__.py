"""Attribution methods of the survey behind one call, :func:`~cnnexplain.methods.attribution.explain.explain`
(captum-style: ``explain(model, images, target, method=...)``), and their metrics
(:mod:`~cnnexplain.methods.attribution.metrics`: deletion/insertion, sanity checks, completeness)."""
