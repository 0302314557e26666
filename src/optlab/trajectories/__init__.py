"""Optimizers on 2-D test functions: the lectures' trajectory pictures, from the same conf/optimizer/ files that
train the CNNs (`python -m optlab.trajectories -m 'optimizer=glob(*)' function=rosenbrock`)."""
