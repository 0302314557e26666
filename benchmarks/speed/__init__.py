"""The speed harness, `python -m benchmarks.speed` (its options and parts: __main__.py): optlab's epoch, start-up and
sweeps against reference loops and targets, and the working tree's epoch against a commit's."""
