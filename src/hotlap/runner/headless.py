"""The headless reporter: a compact live log for CI and plain terminals.

One line per failure as it happens, a progress line every few seconds (counts, what each
worker runs and for how long, the ETA when history knows it), and pytest's own summary line
at the end. It renders :class:`RunState`; it never computes outcomes itself.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

from hotlap.model.run_state import RunPhase, RunState
from hotlap.protocol import (
    CollectError,
    CollectionFinish,
    Event,
    HangStack,
    SessionStart,
    TestReport,
    WorkerCrash,
)
from hotlap.runner.session import parse_summary_line, plain_text
from hotlap.runner.source import EventSource

EtaFn = Callable[[RunState, dict[str, float], float], "float | None"]


class SlowFinding(Protocol):
    """A slow regression as history reports it (``hotlap.history.analysis.Regression``)."""

    @property
    def nodeid(self) -> str: ...

    @property
    def old(self) -> float: ...

    @property
    def new(self) -> float: ...

    @property
    def runs(self) -> int: ...


#: ``(state, now) -> regressions found so far``; supplied when history has a baseline.
RegressionFn = Callable[[RunState, float], "Sequence[SlowFinding]"]


def _fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def crash_message(longrepr: str) -> str:
    """The line pytest's short summary would show: the last ``E   `` line, else the last line."""
    lines = [line for line in longrepr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("E   "):
            return line[4:].strip()
    return lines[-1].strip() if lines else ""


def progress_line(state: RunState, now: float, eta: float | None = None, width: int = 200) -> str:
    """``[12.3s] 150/2000 | 140 passed, 2 failed | gw0 t.py::slow 3.2s | ETA 5s``."""
    counts = ", ".join(f"{n} {k}" for k, n in state.summary_counts().items()) or "no results yet"
    parts = [f"[{_fmt_seconds(state.elapsed(now))}] {state.done_count}/{state.total}", counts]
    for lane in sorted(state.workers.values(), key=lambda w: w.id):
        if lane.current:
            parts.append(f"{lane.id} {lane.current} {_fmt_seconds(max(0.0, now - lane.since))}")
    if eta is not None:
        parts.append(f"ETA {_fmt_seconds(eta)}")
    line = " | ".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def collected_line(state: RunState, event: CollectionFinish, now: float) -> str:
    """``[1.9s] collected 2459 tests (31000 deselected), 2 workers``: what the run runs, as
    soon as the first process has collected (pytest's own "collected N items" line)."""
    tests = f"{event.count} test{'s' * (event.count != 1)}"
    if event.deselected:
        tests += f" ({event.deselected} deselected)"
    n = state.session.numprocesses
    where = f"{n} worker{'s' * (n != 1)}" if n else "one process"
    return f"[{_fmt_seconds(state.elapsed(now))}] collected {tests}, {where}"


class HeadlessReporter:
    """Prints what a run does while it runs."""

    def __init__(
        self,
        state: RunState,
        out: TextIO,
        *,
        expected: dict[str, float] | None = None,
        eta: EtaFn | None = None,
        interval: float = 2.0,
        verbose_failures: bool = True,
        regressions: RegressionFn | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.state = state
        self.out = out
        #: hotlap's own notes (its choice of -n), apart from the log, as before the run.
        self.err = err
        self._collected_said = False
        self.expected = expected or {}
        self.eta = eta
        self.interval = interval
        self.verbose_failures = verbose_failures
        self._last_progress = time.monotonic()
        self._hang_reported: dict[str, float] = {}
        self.regressions = regressions
        self._slow_reported: set[str] = set()
        #: pytest's output is relayed as it comes (its capture is off, see :func:`run_headless`):
        #: pytest shows its progress and failures itself, hotlap's other lines go to stderr.
        self.live = False

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def say(self, line: str) -> None:
        """One of hotlap's own lines: in the log, or apart from pytest's relayed output."""
        (self.note if self.live else self.write)(line)

    def note(self, line: str) -> None:
        err = self.err or sys.stderr
        err.write(line + "\n")
        err.flush()

    def feed(self, events: list[Event]) -> None:
        """Apply events to the state and print the ones worth a line."""
        state = self.state
        for event in events:
            state.apply(event)
            if isinstance(event, SessionStart):
                self.live = self.live or event.capture in LIVE_CAPTURE
                if event.workers_reason:
                    self.note(f"hotlap: {event.workers_reason}")
            elif self.live and isinstance(event, (CollectionFinish, TestReport, CollectError)):
                continue  # pytest says it, in its output
            elif isinstance(event, CollectionFinish):
                # None collected: pytest's own error or "no tests ran" says it all.
                if not self._collected_said and event.count:
                    self._collected_said = True
                    self.write(collected_line(state, event, time.monotonic()))
            elif isinstance(event, TestReport) and event.category in ("failed", "error"):
                word = "FAILED" if event.category == "failed" else "ERROR"
                where = f" ({event.when})" if event.when not in ("call", "???") else ""
                msg = event.message or crash_message(event.longrepr)
                rec = state.tests.get(event.nodeid)
                took = rec.duration if rec is not None else event.duration
                self.write(
                    f"{word} {event.nodeid}{where} [{event.worker}, {took:.2f}s]"
                    + (f" - {msg}" if msg else "")
                )
            elif isinstance(event, CollectError):
                self.write(f"ERROR collecting {event.nodeid} - {crash_message(event.longrepr)}")
            elif isinstance(event, WorkerCrash):
                where = f" while running {event.nodeid}" if event.nodeid else ""
                self.say(f"CRASHED worker {event.crashed_worker}{where}: {event.reason}")
            elif isinstance(event, HangStack):
                last = self._hang_reported.get(event.nodeid)
                if last is None or event.elapsed - last >= 30:
                    self._hang_reported[event.nodeid] = event.elapsed
                    self.say(
                        f"HANGING {event.nodeid} [{event.worker}] for {event.elapsed:.0f}s, "
                        f"stack:\n{event.stack.rstrip()}"
                    )

    def report_regressions(self, now: float) -> None:
        """One line per test newly found slower than its history (running ones included)."""
        if self.regressions is None:
            return
        for found in self.regressions(self.state, now):
            if found.nodeid in self._slow_reported:
                continue
            self._slow_reported.add(found.nodeid)
            self.say(
                f"SLOWER {found.nodeid}: {found.old:.2f}s -> {found.new:.2f}s "
                f"(median of {found.runs} earlier runs)"
            )

    def tick(self, now: float, force: bool = False) -> None:
        """Print the progress line if it is due."""
        if not force and now - self._last_progress < self.interval:
            return
        self._last_progress = now
        self.report_regressions(now)
        if self.live or (not self.state.tests and not self.state.collected):
            return
        eta = self.eta(self.state, self.expected, now) if self.eta and self.expected else None
        self.write(progress_line(self.state, now, eta))


#: pytest's exit codes of a session that ran (passed, failed, interrupted, no tests).
_OUTCOME_CODES = (0, 1, 2, 5)

#: pytest's ``--capture`` methods under which a test's output goes to pytest's own output, which
#: a headless run then relays as it comes, as plain pytest shows it.
LIVE_CAPTURE = frozenset(("no", "tee-sys"))

#: Seconds the end of a session waits for pytest's summary line to be read from its output
#: (it is printed before the session's last event, in a pipe read every 10 ms).
SUMMARY_WAIT = 0.05


def run_headless(
    source: EventSource,
    state: RunState,
    *,
    out: TextIO | None = None,
    notes: TextIO | None = None,
    expected: dict[str, float] | None = None,
    eta: EtaFn | None = None,
    interval: float = 2.0,
    on_events: Callable[[list[Event]], None] | None = None,
    regressions: RegressionFn | None = None,
    on_session_end: Callable[[RunState], list[str]] | None = None,
    debug_hint: Callable[[str], str] | None = None,
) -> int:
    """Run ``source`` to the end, printing as it goes; return pytest's exit code.

    Ctrl-C cancels the run (INT, TERM, KILL to pytest's group) and still waits for its end,
    so nothing is left running and the exit code is pytest's (2 when interrupted).

    The end of the log is printed as soon as pytest's session has ended and its summary line
    is read, not when pytest has exited (its shutdown can take a second): pytest's closing
    sections, then hotlap's own lines (``on_session_end``'s, called once then, written to
    ``notes``; ``debug_hint``'s command that debugs the first failure, the dashboard's
    ``d``), then pytest's summary line. Whatever pytest prints after it follows as it
    comes, so in a log the summary line is the last line, as with plain pytest.
    """
    out = out or sys.stdout
    notes = notes or sys.stderr
    reporter = HeadlessReporter(
        state, out, expected=expected, eta=eta, interval=interval, regressions=regressions
    )
    source.start()
    code: int | None = None
    ended_at: float | None = None  # when the session's last event came
    printed: int | None = None  # pytest's output lines shown so far, once the end is printed
    relayed: int | None = None  # pytest's output lines relayed as they came (capture off)

    def note(line: str) -> None:
        out.flush()
        notes.write(line + "\n")
        notes.flush()

    def print_end(exit_code: int) -> None:
        nonlocal printed
        reporter.report_regressions(0.0)
        messages = on_session_end(state) if on_session_end is not None else []
        hint = ""
        failing = first_failing(state)
        if debug_hint is not None and failing and state.phase is not RunPhase.CANCELLED:
            hint = f"hotlap: debug {failing} with: {debug_hint(failing)}"
        printed = finish_report(
            state, source, exit_code, reporter.write, messages, note, hint, relayed=relayed
        )

    while code is None:
        try:
            events = source.drain()
            if events:
                if on_events is not None:
                    on_events(events)
                reporter.feed(events)
            now = time.monotonic()
            if printed is None:
                reporter.tick(now)
                if reporter.live:
                    relayed = _relay_live(source, relayed, reporter.write)
            if printed is None and state.session.exitstatus in _OUTCOME_CODES:
                # A usage or internal error is explained by what pytest prints after it:
                # that end waits for pytest's exit.
                ended_at = ended_at or now
                if source.summary_line or now - ended_at >= SUMMARY_WAIT:
                    print_end(state.session.exitstatus or 0)
            elif printed is not None:
                printed = _relay_after(source, printed, reporter.write)
            code = source.poll()
            if code is None and not events:
                # Short: the loop is also how soon the end of pytest is noticed, and that
                # wait is added to every run (an idle iteration costs ~20 us).
                time.sleep(0.01)
        except KeyboardInterrupt:
            reporter.write("hotlap: interrupted, stopping pytest…")
            state.mark_cancelled()
            source.cancel()
    events = source.drain()
    if on_events is not None and events:
        on_events(events)
    reporter.feed(events)
    if printed is None:
        if reporter.live:
            relayed = _relay_live(source, relayed, reporter.write)
        print_end(code)
    else:
        _relay_after(source, printed, reporter.write)
    return code


def _relay_live(source: EventSource, relayed: int | None, write: Callable[[str], None]) -> int:
    """Print pytest's output lines that came after the ``relayed`` ones (None: none yet), but
    a last one that reads as its summary line, which :func:`finish_report` shows after
    hotlap's own lines (a later line shows it was not). The new count."""
    lines, end = source.output_since(relayed or 0)
    if lines and parse_summary_line(lines[-1]):
        lines.pop()
        end -= 1
    for line in lines:
        write(line)
    return end


def _relay_after(source: EventSource, shown: int, write: Callable[[str], None]) -> int:
    """Print pytest's output lines that came after the ``shown`` ones; the new count."""
    lines, total = source.output_since(shown)
    for line in lines:
        write(line)
    return max(total, shown)


def first_failing(state: RunState) -> str:
    """The first test that failed and still is failing (a rerun may have passed), or ""."""
    for nodeid in state.failures:
        rec = state.tests.get(nodeid)
        if rec is not None and rec.outcome in ("failed", "error"):
            return nodeid
    return ""


def finish_report(
    state: RunState,
    source: EventSource,
    code: int,
    write: Callable[[str], None],
    messages: Sequence[str] = (),
    note: Callable[[str], None] | None = None,
    hint: str = "",
    *,
    relayed: int | None = None,
) -> int:
    """The end of a run: pytest's own words when it failed to start, its closing sections,
    ``messages`` (hotlap's, through ``note``), ``hint``, then its summary line. Returns how
    many of pytest's output lines that covers (what comes later is pytest's, after its
    summary). ``relayed``: the output lines already relayed as they came (capture off); the
    rest, up to the summary line, stands for the closing sections."""
    note = note or write
    shown = len(source.output.splitlines()) + source.output_cut
    if state.phase is RunPhase.CANCELLED:
        done = ", ".join(f"{n} {k}" for k, n in state.summary_counts().items())
        write(
            f"hotlap: run cancelled after {state.done_count}/{state.total} tests"
            + (f" ({done})" if done else "")
        )
        for message in messages:
            note(message)
        if source.summary_line:
            write(summary_text(source))
        return shown
    if code == 3:
        # An internal error: pytest's whole report of it, as plain pytest shows it (a
        # worker's traceback holds the cause at its top, a page above the controller's
        # KeyError), then its summary line, last.
        for line in internal_error(source.output) if relayed is None else []:
            if not parse_summary_line(line):
                write(line)
        for message in messages:
            note(message)
        if source.summary_line:
            write(summary_text(source))
            shown = _summary_position(source) + 1
        return shown
    if code == 4 or (code == 2 and not state.tests and not state.collect_errors):
        # A usage error, or a run stopped before it collected anything: only pytest's
        # output explains it.
        lines = [line for line in source.output.splitlines() if line.strip()]
        errors = [ln for ln in lines if ln.startswith(("ERROR", "INTERNALERROR")) or "error:" in ln]
        for line in (errors[-15:] or lines[-15:]) if relayed is None else []:
            write(line)
        for message in messages:
            note(message)
        return shown
    if relayed is None:
        closing = pytest_sections(source.output, cut=source.output_cut)
        died = state.session.finished is None or any(c.worker == "app" for c in state.crashes)
        if not closing and not source.summary_line and died:
            # pytest died before its report (a plugin's os._exit, a signal): what it printed
            # last says why (pytest-timeout's thread method prints the stacks, then exits).
            closing = after_header(source.output)
    else:
        cut = source.output_cut
        closing = source.output.splitlines()[
            max(relayed, cut) - cut : _summary_position(source) - cut
        ]
    for line in closing:
        write(line)
    for message in messages:
        note(message)
    if hint and source.summary_line:
        write(hint)  # before pytest's summary line, which stays the last line (-qq: none)
    if source.summary_line:
        write(summary_text(source))
        shown = _summary_position(source) + 1
    elif state.session.finished is None:
        # pytest died before its summary (a crash, a signal): say what hotlap saw. A session
        # that ended without one (-qq, -p no:terminal) asked for none.
        counts = ", ".join(f"{n} {k}" for k, n in state.summary_counts().items())
        write(f"= {counts or 'no tests ran'} (exit code {code}) =")
    return shown


def _summary_position(source: EventSource) -> int:
    """Index of pytest's (last) summary line among all its output lines."""
    lines = source.output.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if parse_summary_line(lines[i]):
            return i + source.output_cut
    return len(lines) + source.output_cut


def summary_text(source: EventSource) -> str:
    """pytest's summary line as pytest printed it (``-q``'s bare line, the ``=`` rule, its
    colours), else rebuilt from the counts (a replayed record has no output)."""
    return source.summary_text or f" {source.summary_line} ".center(80, "=")


#: A rule that opens a section of pytest's terminal output: ``==== FAILURES ====``,
#: ``____ test_x ____``, ``---- coverage: platform linux … ----``.
_RULE = re.compile(r"^([=_-])\1{2,} (.+?) \1{2,}$")


_HEADER_END = re.compile(r"$|collected |\d+ workers? \[\d+ items?\]")
#: Lines of a dead pytest's last output shown at most (what came after its header).
DEAD_TAIL = 200
#: Lines of pytest's report of an internal error shown at most (its last ones).
INTERNAL_TAIL = 2000


def after_header(output: str, tail: int = DEAD_TAIL) -> list[str]:
    """What pytest printed after its session header (up to ``tail`` lines, the last ones):
    the output of a pytest that died before its report, or of an internal error."""
    lines = output.splitlines()
    start = 0
    for i, line in enumerate(lines):
        match = _RULE.match(plain_text(line))
        if match is not None and match.group(2).strip() == "test session starts":
            # The header ends with the count of what was collected ("collected 3 items",
            # xdist's "2 workers [3 items]"), or at its first empty line.
            start = next(
                (
                    j + 1
                    for j in range(i + 1, len(lines))
                    if _HEADER_END.match(plain_text(lines[j]).strip())
                ),
                i + 1,
            )
            break
    return _last([line for line in lines[start:] if line.strip()], tail)


def _last(shown: list[str], tail: int) -> list[str]:
    """The last ``tail`` of ``shown``, after a line that says how many were cut."""
    if len(shown) <= tail:
        return shown
    cut = len(shown) - tail
    return [f"hotlap: pytest's last {tail} lines ({cut} earlier ones cut):", *shown[cut:]]


def internal_error(output: str) -> list[str]:
    """pytest's report of an internal error: its lines from the first ``INTERNALERROR>``
    (up to :data:`INTERNAL_TAIL`, the last ones), else what it printed after its header."""
    lines = output.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.startswith("INTERNALERROR>")), None)
    if first is None:
        return after_header(output, INTERNAL_TAIL)
    return _last([line for line in lines[first:] if line.strip()], INTERNAL_TAIL)


def pytest_sections(output: str, cut: int = 0) -> list[str]:
    """The sections pytest printed after its tests, as it printed them, without its final
    summary line: failures and errors with their tracebacks, the warnings summary, plugins'
    reports (coverage), the short test summary. A CI log needs them next to the one line per
    failure; pytest's own options (``--tb``, ``-r``, ``-W``) decide what they hold.

    ``cut`` lines were dropped from the start of ``output``: when that took the first rule,
    what is left is the end of pytest's report, shown after a line that says so."""
    lines = output.splitlines()
    end = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        if parse_summary_line(lines[i]):
            end = i
            break
    for i in range(end):
        match = _RULE.match(plain_text(lines[i]))
        if match is None:
            continue
        title = match.group(2).strip()
        # The header and live logs (log_cli) come before or between the tests.
        if title == "test session starts" or title.startswith("live log"):
            continue
        return lines[i:end]
    if cut and end:
        note = f"hotlap: the start of pytest's report was cut ({cut} earlier lines); its end:"
        return [note, *lines[:end]]
    return []
