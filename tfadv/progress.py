"""Progress lines for long work: rewritten in place on a terminal, throttled in logs.

The estimate of what is left comes from the recent rate (the last ``window``
seconds), not from the whole run: the first items of a stage are often
cached or cheap (models already trained, attacks already run) and say little
about the rest. No estimate is shown until ``min_done`` items and
``min_seconds`` have passed. Work whose items differ in cost (a run's stages)
passes its own ``estimate`` instead.
"""

from __future__ import annotations

import collections
import logging
import sys
import time
import warnings
from typing import Callable, TextIO

_open_line: "ProgressLine | None" = None  # the terminal line drawn last, not yet ended by a newline


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
    end. On a terminal the line is redrawn at most ``interval`` seconds apart.
    Elsewhere (logs, CI) nothing is printed for the first ``log_delay``
    seconds (work that is cached or quick leaves no trace); after that, the
    gap between lines grows with the time elapsed, from ``log_interval`` to
    ``log_max_interval`` seconds, and the last line is always printed: a long
    run leaves a readable trace whose length grows slowly with its duration.

    Args:
      label: what the line counts, e.g. ``"paper A searches"``.
      stream: where to write (default ``sys.stderr``).
      interval: the terminal's redraw throttle, in seconds.
      log_delay, log_interval, log_max_interval: the log throttles, in seconds.
      window: seconds of recent history the rate is measured over.
      min_done, min_seconds: no estimate before this many items are done and
        this much time has passed.
      clock: the time source (``time.monotonic``; tests inject their own).
      estimate: replaces the rate estimate: called with no arguments, returns
        ``(seconds left, complete)`` or None (unknown); an incomplete estimate
        (some items not yet timed) is shown as a lower bound, ``>=1h10m left``.
    """

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2,
                 log_interval: float = 120.0, *, log_max_interval: float = 600.0, log_delay: float = 10.0,
                 window: float = 60.0, min_done: int = 3, min_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 estimate: Callable[[], tuple[float, bool] | None] | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.log_interval, self.log_max_interval, self.log_delay = log_interval, log_max_interval, log_delay
        self.window, self.min_done, self.min_seconds = window, min_done, min_seconds
        self.clock = clock
        self.estimate = estimate
        self.start = clock()
        self._last = -float("inf")
        self._text = ""
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def seconds_left(self, done: int, total: int, now: float | None = None) -> float | None:
        """The estimate of the time left, from the rate over the recent window; None while unknown."""
        now = self.clock() if now is None else now
        if not self._samples or done >= total or done < self.min_done or now - self.start < self.min_seconds:
            return None
        t0, d0 = self._samples[0]
        if done <= d0 or now <= t0:
            return None
        return (total - done) * (now - t0) / (done - d0)

    def _left(self, done: int, total: int, now: float) -> str:
        """The line's ", ~1m15s left" part ("" while unknown)."""
        if self.estimate is None:
            left = self.seconds_left(done, total, now)
            return f", ~{format_seconds(left)} left" if left is not None else ""
        found = self.estimate() if done < total else None
        if found is None:
            return ""
        seconds, complete = found
        return f", {'~' if complete else '>='}{format_seconds(seconds)} left"

    def _record(self, now: float, done: int) -> None:
        if not self._samples or done != self._samples[-1][1]:
            self._samples.append((now, done))
        # Keep one sample at or before the window's start, and at least two.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def _due(self, now: float, last: bool) -> bool:
        """Whether a line is drawn (terminal) or printed (log) now."""
        if self.tty:
            return last or now - self._last >= self.interval
        elapsed = now - self.start
        if elapsed < self.log_delay:
            return False
        gap = max(self.log_interval, min(self._last - self.start, self.log_max_interval))
        return last or now - self._last >= gap

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        global _open_line
        now = self.clock()
        self._record(now, done)
        if not self._due(now, done >= total):
            return
        self._last = now
        self._text = (f"{self.label}: {done}/{total}{' ' + detail if detail else ''} "
                      f"[{format_seconds(now - self.start)}{self._left(done, total, now)}]")
        if self.tty:
            self.stream.write("\r\033[K" + self._text)
            _open_line = self
        else:
            self.stream.write(self._text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Ends the line (on a terminal)."""
        if _open_line is self:
            end_line()


def end_line() -> None:
    """Ends an open terminal progress line with a newline, so the next output starts on its own line."""
    global _open_line
    line, _open_line = _open_line, None
    if line is not None:
        try:
            line.stream.write("\n")
            line.stream.flush()
        except (OSError, ValueError):
            pass


class _EndProgressLine(logging.Filter):
    """A handler filter that lets every record through, after ending an open progress line."""

    def filter(self, record):
        end_line()
        return True


def guard_logs_and_warnings() -> None:
    """Ends an open progress line before any log record or Python warning is printed (idempotent).

    For entry points to call (``tfadv.flags.set_up``): it touches the root
    logger's handlers and ``warnings.showwarning``.
    """
    for handler in logging.root.handlers + [logging.lastResort]:
        if handler is not None and not any(isinstance(f, _EndProgressLine) for f in handler.filters):
            handler.addFilter(_EndProgressLine())
    show = warnings.showwarning
    if not getattr(show, "ends_progress_line", False):
        def showwarning(*args, **kwargs):
            end_line()
            show(*args, **kwargs)

        showwarning.ends_progress_line = True
        warnings.showwarning = showwarning
