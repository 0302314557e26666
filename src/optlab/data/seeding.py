"""One rule for per-epoch randomness, shared by the batch order, augmentation and the RNG reseed."""


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed that depends only on the run's seed and the epoch: what makes a resumed epoch equal an uninterrupted
    one."""
    return seed * 1_000_003 + epoch
