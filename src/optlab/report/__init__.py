"""Turn runs (their summary.json and TensorBoard events) into figures, a table and written observations."""

from optlab.report.write import ReportOptions, ReportOutputs, write_report

__all__ = ["ReportOptions", "ReportOutputs", "write_report"]
