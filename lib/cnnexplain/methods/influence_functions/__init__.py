"""Influence functions: :mod:`hvp` (parameter blocks, Hessian-vector products, Gauss-Newton factors),
:mod:`solvers` (exact, Woodbury, CG, LiSSA inverse-HVPs), :mod:`kfac` (Kronecker-factored curvature, exact
Gauss-Newton blocks per layer and the per-block choice of solver), :mod:`nystrom` (randomized Nyström
curvature and the CG it preconditions), :mod:`layerwise` (per-layer and global influence scores) and :mod:`retraining` (leave-one-out retraining, the ground truth influence approximates)."""
