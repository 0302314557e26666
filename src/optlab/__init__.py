"""optlab: compare deep-learning optimizers on image classification with Lightning + Hydra."""
