"""Influence functions: :mod:`hvp` (parameter blocks, Hessian-vector products, Gauss-Newton factors),
:mod:`solvers` (exact, Woodbury, CG, LiSSA inverse-HVPs), :mod:`layerwise` (per-layer and global influence
scores) and :mod:`retraining` (leave-one-out retraining, the ground truth influence approximates)."""
