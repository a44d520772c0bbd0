#!/usr/bin/env python3
"""The engine's prefetches survive the compiler.

PartitionAggregator::Prepare starts loading the slots of the event-id and new-participant
memories a few records before Apply reads them (HashTimeTable::Prefetch). GCC 12 silently
deleted the __builtin_prefetch that did it (it sat under a condition), and for many releases
that look-ahead prefetched nothing while every other test passed; core/prefetch.h now issues
it as a volatile asm statement. This test reads the machine code (objdump) of
prefetch_probe.cc, built with the project's flags, and fails when a probe function holds no
prefetch instruction.

Usage: prefetch_test.py <prefetch_probe object file>...
"""
import platform
import re
import subprocess
import sys

PROBES = ("ProbeHashTimeTablePrefetch", "ProbeEventIdFilterPrefetch")


def prefetches_by_function(objects):
    """Prefetch instructions in each probe function of the object files."""
    counts = {}
    current = None
    for path in objects:
        listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", path],
                                 check=True, capture_output=True, text=True).stdout
        for line in listing.splitlines():
            header = re.match(r"^[0-9a-f]+ <civicpulse::core::(\w+)\(", line)
            if header:
                current = header.group(1)
                counts.setdefault(current, 0)
            elif line.endswith(">:"):
                current = None
            elif current is not None and re.search(r"\tprefetch", line):
                counts[current] += 1
    return counts


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if platform.machine() not in ("x86_64", "AMD64"):
        print("SKIP: the check reads x86-64 machine code")
        return
    counts = prefetches_by_function(sys.argv[1:])
    failed = False
    for probe in PROBES:
        if probe not in counts:
            print(f"FAIL: {probe} not found in {sys.argv[1:]}")
            failed = True
        elif counts[probe] == 0:
            print(f"FAIL: {probe} compiled without a prefetch instruction")
            failed = True
        else:
            print(f"ok: {probe}: {counts[probe]} prefetch instruction(s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
