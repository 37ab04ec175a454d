"""Fuzzing the raw native entry points: the TensorFlow ops called through the op
library directly (no zoo.ops checks in front) and zoo._C.

tests/fuzz_child.py runs seeded random cases (ranks, sizes with 0, mismatched
bias / kernel / preact / dy shapes, NaN and Inf, odd attributes, wrong dtypes,
non-contiguous arrays) in one child process and prints each case before it
runs it. A crash (the child dying on a signal or exiting without its summary)
is reported with the case that caused it, and the child is restarted after
that case so that one run finds every crash. Valid cases must match the
float64 reference, invalid ones must raise: zero crashes, zero wrong answers.

ZOO_FUZZ_SEED and ZOO_FUZZ_CASES change the seed and the number of cases
(CI: the defaults below, about a minute).
"""

import json
import os
import signal
import subprocess
import sys

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_child.py")
SEED = int(os.environ.get("ZOO_FUZZ_SEED", "20261202"))
CASES = int(os.environ.get("ZOO_FUZZ_CASES", "3000"))
MAX_CRASHES = 10


def _run_child(start, count, extra_env=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(extra_env or {}))
    env.pop("ZOO_ISA", None)
    return subprocess.run([sys.executable, CHILD, str(SEED), str(start), str(count)],
                          capture_output=True, text=True, timeout=1500, env=env)


def fuzz(start, count, extra_env=None):
    """Runs cases [start, start + count), restarting after each crash. Returns
    (summaries, crashes, failures), crashes and failures as readable lines."""
    summaries, crashes, failures = [], [], []
    end = start + count
    while start < end and len(crashes) < MAX_CRASHES:
        out = _run_child(start, end - start, extra_env)
        last_case, last_line, summary = None, None, None
        for line in out.stdout.splitlines():
            if line.startswith("CASE "):
                last_case, last_line = int(line.split()[1]), line
            elif line.startswith("DONE "):
                last_case = None
            elif line.startswith("FAIL "):
                failures.append(line[:1200])
                last_case = None
            elif line.startswith("SUMMARY "):
                summary = json.loads(line[len("SUMMARY "):])
        if summary is not None and out.returncode == 0:
            summaries.append(summary)
            break
        how = (f"signal {signal.Signals(-out.returncode).name}" if out.returncode < 0
               else f"exit status {out.returncode}")
        if last_case is None:  # died outside a case: nothing to skip, report and stop
            crashes.append(f"child died ({how}) outside a case: {out.stderr[-3000:]}")
            break
        crashes.append(f"crash ({how}) in {last_line[:1500]}\nstderr: {out.stderr[-1500:]}")
        start = last_case + 1
    return summaries, crashes, failures


def test_raw_entry_points_never_crash_or_answer_wrong():
    summaries, crashes, failures = fuzz(0, CASES)
    totals = {"valid": 0, "invalid": 0}
    per_entry = {}
    for s in summaries:
        for entry, c in s["counts"].items():
            e = per_entry.setdefault(entry, {"valid": 0, "invalid": 0})
            for k in totals:
                e[k] += c[k]
                totals[k] += c[k]
    print(f"\nfuzzed {CASES} cases (seed {SEED}): {totals['valid']} valid, {totals['invalid']} "
          f"refused; {len(crashes)} crashes, {len(failures)} wrong answers or verdicts")
    for entry in sorted(per_entry):
        print(f"  {entry:22s} {per_entry[entry]}")
    assert not crashes, "\n\n".join(crashes)
    assert not failures, "\n".join(failures[:30])
    # Both kinds of case were drawn for every entry point.
    assert len(per_entry) == 8, per_entry
    assert all(c["valid"] > 20 and c["invalid"] > 20 for c in per_entry.values()), per_entry


def test_a_crash_is_reported_with_its_case_and_the_run_goes_on():
    # The child aborts itself (SIGABRT) at case 3: the parent must name that
    # case and still run the cases after it.
    summaries, crashes, failures = fuzz(0, 6, {"ZOO_FUZZ_ABORT_AT": "3"})
    assert len(crashes) == 1 and "SIGABRT" in crashes[0] and "CASE 3 " in crashes[0], crashes
    assert not failures
    assert sum(c["valid"] + c["invalid"] for s in summaries for c in s["counts"].values()) == 2  # cases 4, 5
