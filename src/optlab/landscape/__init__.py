"""Loss landscapes around trained weights (Li et al. 2018, filter-normalized directions) and along the straight
line from the initial weights (Goodfellow et al. 2015): `python -m optlab.landscape <sweep>`."""
