# SPDX-License-Identifier: MIT
"""What the report's sections share: the runs of one bench/run.sh, and the table they fill.

Every performance target of the design (ARCHITECTURE.md section 5) is a ratio to a
baseline measured in the same run, so every row carries both figures, their ratio, the
target as the design words it, and a verdict. A section that lacks a figure (a filtered
run, a benchmark that failed, a language whose toolchain is missing) adds no row and
says what it lacked instead, so a partial run still prints a table.
"""

import statistics


# A run whose threads waited for a CPU (or had it stolen by the hypervisor) this much of
# the time measured the machine's load more than the code.
MAX_CPU_WAIT_PCT = 10.0


class Missing(Exception):
    """A benchmark a row needs did not run (filtered out, failed, or not built)."""


class Report:
    def __init__(self, docs):
        # Per-repetition entries only; aggregates are recomputed here so the best run can
        # be shown next to the median, and so one repetition works too.
        self.runs = {}
        for b in (b for d in docs for b in d["benchmarks"]):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            self.runs.setdefault(b["run_name"], []).append(b)
        self.rows = []  # (figure, measured, baseline, ratio, target, verdict)
        self.missing = []  # benchmark names the left-out rows needed
        self.left_out = []  # whole groups left out, with the reason (a language, say)

    def section(self, fn):
        """Runs fn, which adds rows, or notes what it lacked; usable as a decorator."""
        try:
            fn()
        except Missing as e:
            self.missing.append(str(e))
        return fn

    def row(self, figure, measured, baseline, ratio, target, verdict):
        self.rows.append((figure, measured, baseline, ratio, target, verdict))

    # ---- figures of Google Benchmark runs ---------------------------------------------

    def values(self, name, key):
        if name not in self.runs:
            raise Missing(name)
        return [r[key] for r in self.runs[name]]

    def median(self, name, key):
        return statistics.median(self.values(name, key))

    # Noise on a shared machine only ever adds time, so the best repetition is shown next
    # to the median; the verdict uses the median, the more conservative of the two.
    def ns_per_op(self, name):
        """Wall time per operation, the inverse of the (aggregate) rate: (median, best)."""
        rates = self.values(name, "items_per_second")
        return 1e9 / statistics.median(rates), 1e9 / max(rates)

    def rate(self, name):
        """Aggregate operations per second: (median, best)."""
        rates = self.values(name, "items_per_second")
        return statistics.median(rates), max(rates)

    def cpu_wait_note(self, verdict, *names):
        """verdict, with a note when a run of names waited long for a CPU.

        One thread that waits for a CPU a third of its time (a build next door on 2 CPUs)
        measures the scheduler as much as the code, and not alike for a figure and its
        baseline: the note says not to trust either way such a verdict.
        """
        waits = [statistics.median(r.get(k, 0.0) for r in self.runs[n])
                 for n in names if n in self.runs for k in ("cpu_wait_pct", "steal_pct")]
        worst = max(waits, default=0.0)
        if worst < MAX_CPU_WAIT_PCT:
            return verdict
        return f"{verdict} (noisy: waited for a CPU {worst:.0f}% of the time)"

    def need(self, *names):
        """Raises Missing naming every one of names that did not run."""
        absent = [n for n in names if n not in self.runs]
        if absent:
            raise Missing(", ".join(absent))

    def first_of(self, *names):
        """The first of names that ran: a benchmark renamed since keeps its row."""
        for name in names:
            if name in self.runs:
                return name
        raise Missing(" or ".join(names))


def fmt_ns(v):
    return f"{v[0]:.1f} ns (best {v[1]:.1f})"


def fmt_rate(v):
    return f"{v[0] / 1e6:.2f} M/s (best {v[1] / 1e6:.2f})"


def fmt_us(v):
    return f"{v / 1e3:.1f} us"


def yes(ok):
    return "yes" if ok else "**NO**"
