#!/usr/bin/env python3
"""Self cost per function of two callgrind dumps, per request, and their difference (B - A).

`python3 bench/cgdiff.py A.dump B.dump [REQUESTS] [ROWS]`: each dump is one of `bench/edge.py`'s
`callgrind_per_request` dumps (`make bench` with `BENCH_SECTIONS=instructions BENCH_KEEP=1` keeps them in its
work dir: `callgrind.<row>.1`, e.g. `callgrind.plugins-gw_plain.1` and `callgrind.plugins-gw_chain5.1`), which
count 2 × BENCH_INSTR_REQUESTS requests (600 by default: REQUESTS). Functions are merged across the source files
callgrind_annotate splits them by (an inlined callee's lines are charged to the caller under the callee's file),
so a row is a function as the optimiser left it. Prints the total difference and the ROWS (40) largest each way.
"""

import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$")


def self_costs(dump):
    out = subprocess.run(["callgrind_annotate", "--tree=none", "--auto=no", "--threshold=100", dump],
                         check=True, capture_output=True, text=True).stdout
    costs = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2).strip()
        name = name.split(":", 1)[1] if ":" in name else name
        name = re.sub(r" \[[^\]]*\]$", "", name)
        costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    requests = int(argv[3]) if len(argv) > 3 else 600
    rows = int(argv[4]) if len(argv) > 4 else 40
    a, b = self_costs(argv[1]), self_costs(argv[2])
    diff = sorted(((b.get(k, 0) - a.get(k, 0)) / requests, k) for k in set(a) | set(b))
    print(f"A {sum(a.values()) / requests:,.0f}  B {sum(b.values()) / requests:,.0f}  "
          f"B - A {sum(d for d, _ in diff):,.0f} instructions per request")
    for d, k in diff[::-1][:rows]:
        if d > 0:
            print(f"{d:+9,.0f}  {k[:160]}")
    print("...")
    for d, k in diff[:rows]:
        if d < 0:
            print(f"{d:+9,.0f}  {k[:160]}")


if __name__ == "__main__":
    main(sys.argv)
