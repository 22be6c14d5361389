#!/usr/bin/env python3
"""Integration tests: gatewayd behind real web servers, and raw FastCGI.

Runs every suite of every tests/integration/test_*.py module and prints one
line per test case: "PASS name", "FAIL name: reason" or "SKIP name: reason"
(diagnostic lines below a FAIL are indented). Always exits 0: tests/run
counts the lines.

    python3 tests/integration/run.py [--keep] [--list] [PATTERN ...]

PATTERN selects cases whose "suite/case" name contains it. --keep leaves
the temporary directories (configs, logs) in place and prints where.
The binary under test is $GATEWAYD, else build-integ/ or build/release/.
"""

import glob
import importlib
import os
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import support  # noqa: E402
from support import Skip, TestFailure, Workspace  # noqa: E402

# Whole run; past it the remaining cases fail as "not run" (CI must not hang).
BUDGET_SECONDS = float(os.environ.get("GW_INTEG_BUDGET", "600"))
SETUP_TIMEOUT = 60
LOG_LINES = 10
# A front that hangs would eat the whole budget one timeout at a time: after
# this many timeouts in a row its remaining cases fail at once.
MAX_TIMEOUTS_PER_SUITE = 2


class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _on_term(signum, frame):
    # Turn SIGTERM into a normal exit so finally blocks and atexit stop
    # every server this run started.
    raise SystemExit(1)


def with_timeout(seconds, fn, *args):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def describe(exc, timeout):
    if isinstance(exc, CaseTimeout):
        return f"timed out after {timeout}s"
    if isinstance(exc, TestFailure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def one_line(text):
    return " ".join(str(text).split())[:600]


class Runner:
    def __init__(self, patterns, keep):
        self.patterns = patterns
        self.keep = keep
        self.start = time.monotonic()
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def selected(self, name):
        return not self.patterns or any(p in name for p in self.patterns)

    def report(self, verdict, name, reason=None, details=()):
        self.counts[verdict] += 1
        line = f"{verdict} {name}" + (f": {one_line(reason)}" if reason else "")
        print(line, flush=True)
        for d in details:
            print("    " + d[:300], flush=True)

    def over_budget(self):
        return time.monotonic() - self.start > BUDGET_SECONDS

    def run_suite(self, suite):
        cases = [(f"{suite.name}/{n}", fn, t) for n, fn, t in suite.cases]
        cases = [c for c in cases if self.selected(c[0])]
        if not cases:
            return
        if self.over_budget():
            for name, _, _ in cases:
                self.report("FAIL", name, "not run: the integration time budget was used up")
            return
        ws = Workspace(suite.name)
        try:
            try:
                ctx = with_timeout(SETUP_TIMEOUT, suite.setup, ws)
            except Skip as e:
                for name, _, _ in cases:
                    self.report("SKIP", name, str(e))
                return
            except Exception as e:  # noqa: BLE001 - every setup error fails the suite's cases
                reason = "setup failed: " + describe(e, SETUP_TIMEOUT)
                logs = []
                for p in ws.procs:
                    logs += p.log_tail(LOG_LINES)
                if not isinstance(e, (TestFailure, CaseTimeout)):
                    logs += traceback.format_exc().splitlines()[-4:]
                for i, (name, _, _) in enumerate(cases):
                    self.report("FAIL", name, reason, logs if i == 0 else ())
                return
            timeouts = 0
            for name, fn, timeout in cases:
                if timeouts >= MAX_TIMEOUTS_PER_SUITE:
                    self.report("FAIL", name, f"not run: {timeouts} earlier cases of {suite.name} timed out")
                    continue
                timed_out = self.run_case(ctx, name, fn, timeout)
                timeouts = timeouts + 1 if timed_out else 0
            self.check_shutdown(suite, ws, ctx)
        finally:
            ws.cleanup(keep=self.keep)
            if self.keep:
                print(f"    (kept {ws.dir})", file=sys.stderr)

    def check_shutdown(self, suite, ws, ctx):
        """Stops the suite's processes (web server first) and reports one more
        case: every gatewayd we started exits 0 on SIGTERM, and no log shows
        a crash or a sanitizer report during the whole suite."""
        name = f"{suite.name}/clean-shutdown"
        procs = list(ws.procs)
        ws.stop_all()
        problems = []
        details = []
        for p in procs:
            if p.name.startswith("gatewayd"):
                if p.stopped_by == "kill":
                    problems.append(f"{p.name} ignored SIGTERM for 5s")
                elif p.stopped_by == "exited":
                    problems.append(f"{p.name} had already exited (status {p.returncode()})")
                elif p.returncode() != 0:
                    problems.append(f"{p.name} exited with status {p.returncode()} on SIGTERM")
            report = p.crash_report()
            if report:
                problems.append(f"crash or sanitizer report in the logs of {p.name}")
                details += report
        if problems:
            self.report("FAIL", name, "; ".join(problems), details or [l for p in procs for l in p.log_tail(4)])
        else:
            self.report("PASS", name)

    def run_case(self, ctx, name, fn, timeout):
        """Runs one case and reports it; returns True if it timed out."""
        if self.over_budget():
            self.report("FAIL", name, "not run: the integration time budget was used up")
            return
        dead = [p for p in ctx.procs if not p.alive()]
        if dead:
            p = dead[0]
            self.report("FAIL", name, f"{p.name} exited with status {p.returncode()} before this test",
                        p.log_tail(LOG_LINES))
            return
        ctx.mark_logs()
        t0 = time.monotonic()
        try:
            with_timeout(timeout, fn, ctx)
        except Skip as e:
            self.report("SKIP", name, str(e))
            return
        except Exception as e:  # noqa: BLE001 - any error is this case's failure
            # Only what the servers logged during this case.
            details = ctx.log_tail(LOG_LINES, since_mark=True)
            if not isinstance(e, (TestFailure, CaseTimeout)):
                details = traceback.format_exc().splitlines()[-3:] + details
            self.report("FAIL", name, describe(e, timeout), details)
            return isinstance(e, (CaseTimeout, TimeoutError))
        finally:
            elapsed = time.monotonic() - t0
            if elapsed > 5:
                print(f"    ({name} took {elapsed:.1f}s)", file=sys.stderr, flush=True)
        for p in ctx.procs:
            report = p.crash_report(since_mark=True)
            if report:
                self.report("FAIL", name, f"crash or sanitizer report in the logs of {p.name}", report)
                return
        crashed = [p for p in ctx.procs if not p.alive()]
        if crashed:
            p = crashed[0]
            self.report("FAIL", name, f"{p.name} exited with status {p.returncode()} during this test",
                        p.log_tail(LOG_LINES))
            return
        self.report("PASS", name)


def load_suites():
    """Every suite of every test_*.py; a module that fails to load becomes
    one FAIL line instead of ending the run."""
    here = os.path.dirname(os.path.abspath(__file__))
    suites, broken = [], []
    for path in sorted(glob.glob(os.path.join(here, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            suites += importlib.import_module(name).suites()
        except Exception as e:  # noqa: BLE001 - reported as a failing test
            broken.append((name, f"{type(e).__name__}: {e}", traceback.format_exc().splitlines()[-4:]))
    return suites, broken


def main(argv):
    keep = "--keep" in argv
    listing = "--list" in argv
    patterns = [a for a in argv if not a.startswith("--")]
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    suites, broken = load_suites()
    if listing:
        for s in suites:
            for n, _, _ in s.cases:
                print(f"{s.name}/{n}")
            print(f"{s.name}/clean-shutdown")
        return 0
    runner = Runner(patterns, keep)
    print(f"# integration: gatewayd = {support.gatewayd_binary()}", file=sys.stderr, flush=True)
    for name, reason, details in broken:
        runner.report("FAIL", f"{name}/load", reason, details)
    try:
        for suite in suites:
            runner.run_suite(suite)
    finally:
        support._stop_everything()
    c = runner.counts
    print(f"# integration: {c['PASS']} pass, {c['FAIL']} fail, {c['SKIP']} skip "
          f"in {time.monotonic() - runner.start:.0f}s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
