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

# caugym on the gemm crate and with OpenBLAS, each as a ratio to PyTorch.
cols = ["caugym", "caugym+openblas", "pytorch"]
print(f"{'size':6} {'bench':28} " + " ".join(f"{c + ' tok/s':>21}" for c in cols)
      + f" {'ratio':>7} {'ratio openblas':>15}")
for (size, bench, batch), v in sorted(rows.items()):
    what = "forward+backward 4x256" if bench == "train" else f"greedy sampling batch {batch}"
    vals = [v.get(c) for c in cols]
    p = vals[2]
    ratios = [f"{c / p:.2f}" if c and p else "-" for c in vals[:2]]
    print(f"{size:6} {what:28} " + " ".join(f"{x if x else '-':>21}" for x in vals)
          + f" {ratios[0]:>7} {ratios[1]:>15}")
