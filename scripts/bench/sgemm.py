"""PyTorch's and numpy's (OpenBLAS) f32 matmul rates for the shapes of crates/model/examples/sgemm.rs.

usage: .venv/bin/python scripts/bench/sgemm.py   (torch and numpy; 2 threads as on the benchmark machine)
"""
import time

import numpy as np
import torch

SHAPES = [(1024, 768, 2048), (1024, 2048, 768), (1024, 768, 768), (1024, 768, 32000)]
REPEATS = 10


def rate(flops, f):
    f()
    f()
    start = time.perf_counter()
    for _ in range(REPEATS):
        f()
    return flops * REPEATS / (time.perf_counter() - start) / 1e9


torch.set_num_threads(2)
print("m x k x n: PyTorch GFLOP/s, numpy (OpenBLAS) GFLOP/s")
for m, k, n in SHAPES:
    a, b = torch.randn(m, k), torch.randn(k, n)
    an, bn = a.numpy(), b.numpy()
    flops = 2 * m * k * n
    print(f"{m} x {k} x {n}: {rate(flops, lambda: a @ b):.0f}, {rate(flops, lambda: an @ bn):.0f}")
