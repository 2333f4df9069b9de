"""Reads the JSON lines of both benchmarks on stdin and prints a side-by-side table."""
import json
import sys

rows = {}
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    key = (r["size"], r["bench"], r["batch"])
    rows.setdefault(key, {})[r["impl"]] = r["tokens_per_s"]

print(f"{'size':6} {'bench':28} {'caugym tok/s':>13} {'pytorch tok/s':>14} {'ratio':>7}")
for (size, bench, batch), v in sorted(rows.items()):
    what = "forward+backward 4x256" if bench == "train" else f"greedy sampling batch {batch}"
    c, p = v.get("caugym"), v.get("pytorch")
    ratio = f"{c / p:.2f}" if c and p else "-"
    print(f"{size:6} {what:28} {c if c else '-':>13} {p if p else '-':>14} {ratio:>7}")
