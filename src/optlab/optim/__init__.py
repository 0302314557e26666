"""Optimizer helpers: the home-made MatrixSplitOptimizer and what optlab measures about any optimizer."""
