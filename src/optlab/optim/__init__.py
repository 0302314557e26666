"""Optimizer helpers: Muon for filters, the hidden-weights split, ASGD averaging, and what optlab measures about
any optimizer."""
