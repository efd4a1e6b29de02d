"""A live one-line progress display (rich), off for scripts and CI.

rich is imported only when the display is switched on, so quiet runs and ``--help`` stay light.
"""
from __future__ import annotations

import time


class NullProgress:
    def start(self, title: str) -> None: ...
    def update(self, **fields) -> None: ...
    def stop(self) -> None: ...


class LiveProgress:
    """Refreshes at most ``hz`` times a second: best, current, evals/s, elapsed, plus problem fields."""

    def __init__(self, unit: str = "evals", hz: float = 8.0):
        from rich.console import Console
        from rich.live import Live
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=hz, transient=False)
        self.unit, self.min_dt, self.last = unit, 1.0 / hz, 0.0
        self.title = ""

    def start(self, title: str) -> None:
        self.title = title
        self.live.start()

    def update(self, *, best, current, evals, elapsed, extra=None, force=False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.min_dt:
            return
        self.last = now
        rate = evals / elapsed if elapsed > 0 else 0.0
        parts = [f"[bold]{self.title}[/]", f"best {best:.6g}", f"current {current:.6g}",
                 f"{evals:,} {self.unit}", f"{_si(rate)} {self.unit}/s", f"{elapsed:.1f}s"]
        parts += [f"{k} {v}" for k, v in (extra or {}).items()]
        self.live.update("  ".join(parts))

    def stop(self) -> None:
        self.live.stop()


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.1f}"
