"""The speed issues' targets as one harness run checks them: each printed as it is checked, and the exit status."""

from __future__ import annotations


class Targets:
    """The targets checked so far, in order, and whether each was met."""

    def __init__(self) -> None:
        self.checked: list[tuple[str, bool]] = []

    def check(self, what: str, measured: float, target: float, higher_is_better: bool = False) -> None:
        met = measured >= target if higher_is_better else measured <= target
        self.checked.append((what, met))
        sign = ">=" if higher_is_better else "<="
        print(f"  {'ok  ' if met else 'MISS'} {what}: {measured:.3f} (target {sign} {target})", flush=True)

    def verdict(self) -> int:
        """Prints how many targets were met, naming the missed ones; 1 (the exit status) when any was missed."""
        missed = [what for what, met in self.checked if not met]
        missed_list = f"; missed: {', '.join(missed)}" if missed else ""
        print(f"\n{len(self.checked) - len(missed)} of {len(self.checked)} targets met{missed_list}")
        return 1 if missed else 0
