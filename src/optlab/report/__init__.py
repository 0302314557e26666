"""Turn runs (their summary.json and TensorBoard events) into figures, a table and written observations.

Nothing is imported here: the multirun callback lives in this package and is loaded when a sweep starts, before
any job; matplotlib and pandas are imported only when a report is written (optlab.report.write).
"""
