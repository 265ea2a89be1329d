"""Jung, Shin & Kwon's influential scores: :mod:`fast` (the scores from one forward snapshot, any plain
chain of Linear/Conv2d/pooling/activation layers) and :mod:`reference` (the explicit influential matrices
and tensors of the paper, for checking the fast path)."""
