"""The fair-comparison protocol (`python -m optlab.tune`): equal tuning budget per optimizer, selection on
validation, the chosen setting rerun on fresh seeds, default vs tuned (see conf/tune.yaml)."""
