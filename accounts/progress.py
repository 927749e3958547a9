"""The one progress type of long operations (bulk batches, imports, the Stripe outbox)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

Progress = Callable[[str, int, int], None]
"""Called as progress(phase, done, total) while a long operation runs."""


def no_progress(phase: str, done: int, total: int) -> None:
    return None


PROGRESS_MIN_TOTAL = 1000  # smaller runs finish before a bar would be any use


class ProgressBar:
    """The `Progress` callback of management commands: one line per phase on stderr (stdout
    stays clean for the report), redrawn in place on a terminal, a line every quarter in a log.

    Phases with fewer than `min_total` items draw nothing; a phase without a count (total 0)
    shows its name once when `min_total` is 0.
    """

    WIDTH = 30

    def __init__(self, stream, *, enabled: bool = True, min_total: int | None = None) -> None:
        self.stream = stream
        self.enabled = enabled
        self.min_total = PROGRESS_MIN_TOTAL if min_total is None else min_total
        self.tty = stream.isatty()
        self.phase: str | None = None
        self.shown = -1

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled or total < self.min_total:
            return
        if phase != self.phase:
            self.finish()
            self.phase, self.shown = phase, -1
        if not total:  # a step without a count: its name is enough
            if self.shown < 0:
                self.shown = 0
                self._write(f"{phase}…" + ("" if self.tty else "\n"))
            return
        percent = min(100, done * 100 // total)
        # A terminal redraws at every percent; a log file gets a line every quarter.
        step = 1 if self.tty else 25
        if percent // step == self.shown // step and self.shown >= 0:
            return
        self.shown = percent
        filled = self.WIDTH * percent // 100
        bar = f"{phase:<32} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}%"
        self._write(
            ("\r" if self.tty else "") + f"{bar}  {done:,}/{total:,}" + ("" if self.tty else "\n")
        )

    def finish(self) -> None:
        if self.enabled and self.tty and self.phase is not None and self.shown >= 0:
            self._write("\n")
        self.phase = None

    close = finish

    def _write(self, text: str) -> None:
        self.stream.write(text, style_func=lambda text: text, ending="")
        self.stream.flush()


def write_lines(stream, lines: Iterable[str], chunk: int = 5000) -> None:
    """Write many lines quickly (one write per chunk rather than per line)."""
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= chunk:
            stream.write("\n".join(buffer))
            buffer = []
    if buffer:
        stream.write("\n".join(buffer))
