"""Progress lines: the estimate of time left, throttling, and ending a terminal line before log output."""

import io
import logging

import pytest

from tfadv import progress
from tfadv.progress import ProgressLine, format_seconds


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _line(stream=None, **kwargs):
    clock = Clock()
    return ProgressLine("work", stream or io.StringIO(), log_interval=0.0, log_max_interval=0.0, log_delay=0.0,
                        clock=clock, **kwargs), clock


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.4, 75.3, 3600, 3725)] == ["0s", "59s", "1m15s", "1h00m", "1h02m"]


def test_no_estimate_before_enough_items_and_time():
    line, clock = _line(min_done=3, min_seconds=10)
    for done, t in [(0, 0), (1, 4), (2, 8), (3, 9)]:
        clock.now = t
        line(done, 100)
        assert line.seconds_left(done, 100) is None, (done, t)
    clock.now = 12
    line(4, 100)
    assert line.seconds_left(4, 100) == pytest.approx(96 * 3.0)  # 4 items in 12 s
    assert "~4m48s left" in line.stream.getvalue().splitlines()[-1]
    assert "left" not in line.stream.getvalue().splitlines()[0]


def test_estimate_follows_the_recent_rate_after_a_cached_start():
    """50 cached items in 1 s, then 10 s per item: the estimate settles on the real rate within a window."""
    line, clock = _line(window=60)
    for i in range(51):
        clock.now = i / 50
        line(i, 200)
    done = 50
    for step in range(1, 13):  # two minutes of real work
        clock.now = 1 + 10 * step
        done += 1
        line(done, 200)
    truth = (200 - done) * 10.0
    whole_run = clock.now * (200 - done) / done  # the old estimate: elapsed * left / done
    assert line.seconds_left(done, 200) == pytest.approx(truth, rel=0.1)
    assert whole_run < truth / 3  # what the old estimate said: far too optimistic


def test_estimate_grows_while_an_item_runs_long():
    line, clock = _line(window=60, min_seconds=0, min_done=1)
    for i in range(1, 5):
        clock.now = 10 * i
        line(i, 10)
    assert line.seconds_left(4, 10) == pytest.approx(60, rel=0.01)
    clock.now = 200  # the fifth item has run for 160 s
    assert line.seconds_left(4, 10) > 5 * 60  # the rate so far includes the long-running item


def test_no_estimate_when_done():
    line, clock = _line(min_seconds=0, min_done=1)
    clock.now = 5
    line(10, 10)
    assert line.seconds_left(10, 10) is None and "left" not in line.stream.getvalue()


def _logged(line, clock, seconds, total):
    """Drives ``line`` one item per second for ``seconds`` s (ending with done == total); the counts printed."""
    for t in range(seconds + 1):
        clock.now = t
        line(t * total // seconds, total)
    return [p.split(":")[1].split()[0] for p in line.stream.getvalue().splitlines()]


def test_log_lines_start_after_the_delay_with_growing_gaps_and_the_last_printed():
    clock = Clock()
    line = ProgressLine("work", io.StringIO(), log_interval=30, log_max_interval=60, log_delay=10, clock=clock)
    # Printed at 10 s; the gap is then max(30, elapsed at the last line) capped at 60: 40, 80, 140, 200.
    assert _logged(line, clock, 230, 230) == ["10/230", "40/230", "80/230", "140/230", "200/230", "230/230"]


def test_work_done_within_the_log_delay_prints_nothing():
    clock = Clock()
    line = ProgressLine("work", io.StringIO(), log_interval=30, log_delay=10, clock=clock)
    assert _logged(line, clock, 9, 9) == []


def test_a_log_of_hours_stays_short():
    """Defaults: a 3-hour stage leaves about 20 lines, a 15-minute one 5 (10 s, 2m10s, 4m20s, 8m40s, end)."""
    for seconds, lines in ((15 * 60, 5), (3 * 3600, 22)):
        clock = Clock()
        assert len(_logged(ProgressLine("work", io.StringIO(), clock=clock), clock, seconds, seconds)) == lines


def test_open_terminal_line_is_ended_before_a_log_line_or_a_warning(monkeypatch):
    terminal = Terminal()
    logger = logging.getLogger("tfadv.test_progress")
    handler = logging.StreamHandler(terminal)
    monkeypatch.setattr(logging.root, "handlers", [handler])
    monkeypatch.setattr(progress.warnings, "showwarning", lambda *a, **k: terminal.write("WARNED\n"))
    progress.guard_logs_and_warnings()
    progress.guard_logs_and_warnings()  # idempotent
    assert sum(isinstance(f, progress._EndProgressLine) for f in handler.filters) == 1
    line = ProgressLine("work", terminal, clock=Clock())
    line(1, 3)
    assert not terminal.getvalue().endswith("\n")
    logger.setLevel(logging.INFO)
    logger.warning("something to act on")
    assert terminal.getvalue().endswith("work: 1/3 [0s]\nsomething to act on\n")
    line.clock.now = 1
    line(2, 3)
    progress.warnings.showwarning("w", UserWarning, "f", 1)
    assert terminal.getvalue().endswith("work: 2/3 [1s]\nWARNED\n")
    line(3, 3)
    line.close()
    line.close()
    assert terminal.getvalue().endswith("work: 3/3 [1s]\n") and not terminal.getvalue().endswith("\n\n")
