"""Progress lines for long work: rewritten in place on a terminal, throttled in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

def format_seconds(seconds: float) -> str:
    """``75.3`` -> ``"1m15s"``; short and stable for progress lines."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressLine:
    """Reports ``done/total`` with elapsed time and an estimate of what is left.

    Call the instance with ``(done, total, detail)``; call ``close()`` at the
    end. On a terminal the line is redrawn at most ``interval`` seconds apart;
    elsewhere (logs, CI) a line is printed at most every ``log_interval``
    seconds, so a long run leaves a readable trace.
    """

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2,
                 log_interval: float = 30.0):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else log_interval
        self.start = time.monotonic()
        self._last = -float("inf")
        self._text = ""

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        now = time.monotonic()
        if now - self._last < self.interval and done < total:
            return
        self._last = now
        elapsed = now - self.start
        left = f", ~{format_seconds(elapsed * (total - done) / done)} left" if 0 < done < total else ""
        self._text = f"{self.label}: {done}/{total}{' ' + detail if detail else ''} [{format_seconds(elapsed)}{left}]"
        if self.tty:
            self.stream.write("\r\033[K" + self._text)
        else:
            self.stream.write(self._text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._text:
            self.stream.write("\n")
            self.stream.flush()
