"""optlab's benchmark harnesses (benchmarks/README.md says what each measures and where its figures are published).

A package, run from the repository root as `python -m benchmarks.<harness>`: the harnesses share benchmarks.common
without touching sys.path, and the optlab runs they launch find benchmarks.callbacks by its dotted name.
"""
