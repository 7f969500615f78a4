#!/usr/bin/env python3
"""mypy over portal/ against a checked-in baseline that may only shrink.

The configuration is pyproject.toml's ``[tool.mypy]``: strict for the packages in
STRICT, ordinary checks elsewhere. Errors outside STRICT that existed when the
check was introduced are listed in ``.ci/mypy-baseline.txt``, one line per error,
without line numbers (``path: error: message  [code]``), so that edits above an
error do not disturb it.

    python .ci/mypy_check.py               # CI: fail on any error not in the baseline,
                                           #     and on baseline entries that no longer occur
    python .ci/mypy_check.py --update      # drop the entries that no longer occur (never adds any)
    python .ci/mypy_check.py --regenerate  # write the current errors as the baseline (the
                                           # first time, or after files moved); review the diff

An error in a STRICT package is never accepted by the baseline. A stale entry
fails the check too: left in, it would let the same error come back unnoticed.
Run with the interpreter of the environment that has mypy and the stubs
(``.venv/bin/python``): another mypy version words some messages differently.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
STRICT = ("portal/adapters/", "portal/rbac/", "portal/lookup/")
HEADER = (
    "# mypy errors accepted outside the strict packages: it may only shrink (see .ci/mypy_check.py).\n"
    "# One line per error, without line numbers. Fix an error, then run: .venv/bin/python .ci/mypy_check.py --update\n"
)

ERROR = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+)(?::\d+)?: error: (?P<message>.*)$")
LINE_REFERENCE = re.compile(r"\bline \d+\b")  # as in 'Name "x" already defined on line 12'


def run_mypy() -> list[tuple[str, str]]:
    """``(normalised error, mypy's own line)`` for every error mypy reports on portal/."""
    command = [
        sys.executable, "-m", "mypy",
        "--no-error-summary", "--show-error-codes", "--hide-error-context",
        "--no-pretty", "--no-color-output", "--show-absolute-path",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # 2: mypy itself failed (bad configuration, crash)
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit(f"mypy exited with {done.returncode}")
    errors = []
    for raw in done.stdout.splitlines():
        match = ERROR.match(raw)
        if match is None:
            continue  # notes, and the continuation lines of a few long messages
        path = Path(match["path"])
        try:
            path = path.resolve().relative_to(ROOT)
        except ValueError:
            pass  # outside the repository (a stub): keep as is
        shown = f"{path.as_posix()}:{match['line']}: error: {match['message']}"
        errors.append((normalise(path.as_posix(), match["message"]), shown))
    if done.returncode == 1 and not errors:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit("mypy failed without an error line this script understands")
    return errors


def normalise(path: str, message: str) -> str:
    return f"{path}: error: {LINE_REFERENCE.sub('line N', message.rstrip())}"


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    lines = BASELINE.read_text(encoding="utf-8").splitlines()
    return Counter(line for line in lines if line.strip() and not line.startswith("#"))


def write_baseline(entries: Counter[str]) -> None:
    BASELINE.write_text(HEADER + "".join(f"{line}\n" for line in sorted(entries.elements())), encoding="utf-8")


def is_strict(entry: str) -> bool:
    return entry.startswith(STRICT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--update", action="store_true", help="remove baseline entries that no longer occur")
    mode.add_argument("--regenerate", action="store_true", help="write the current errors as the baseline")
    args = parser.parse_args()

    errors = run_mypy()
    current = Counter(entry for entry, _ in errors)
    baseline = read_baseline()
    strict_errors = [raw for entry, raw in errors if is_strict(entry)]
    new = current - baseline  # occurrences beyond what the baseline accepts
    gone = baseline - current
    failed = False

    if strict_errors:
        failed = True
        print(f"mypy (strict): {len(strict_errors)} error(s) in {', '.join(STRICT)}; these are never baselined:")
        print("".join(f"  {raw}\n" for raw in strict_errors), end="")

    if args.regenerate:
        accepted = Counter({entry: n for entry, n in current.items() if not is_strict(entry)})
        write_baseline(accepted)
        print(f"wrote {BASELINE.relative_to(ROOT)}: {sum(accepted.values())} error(s) "
              f"({sum((accepted - baseline).values())} added, {sum((baseline - accepted).values())} removed)")
        return 1 if failed else 0

    new_outside = Counter({entry: n for entry, n in new.items() if not is_strict(entry)})
    if new_outside:
        failed = True
        print(f"mypy: {sum(new_outside.values())} new error(s) not in {BASELINE.relative_to(ROOT)}; fix them:")
        reported: Counter[str] = Counter()
        for entry, raw in errors:  # with their line numbers; where an entry repeats, every occurrence is shown
            if entry in new_outside and reported[entry] < current[entry]:
                reported[entry] += 1
                print(f"  {raw}")

    if gone:
        if args.update:
            write_baseline(baseline - gone)
            print(f"removed {sum(gone.values())} entr(y/ies) from {BASELINE.relative_to(ROOT)} that no longer occur")
        else:
            failed = True
            print(f"mypy: {sum(gone.values())} baseline entr(y/ies) no longer occur: shrink the baseline with "
                  f"`.venv/bin/python .ci/mypy_check.py --update` and commit it:")
            print("".join(f"  {entry}\n" for entry in sorted(gone.elements())), end="")

    if not failed:
        print(f"mypy: no new errors ({sum(baseline.values())} baselined outside the strict packages)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
