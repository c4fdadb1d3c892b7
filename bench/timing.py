"""Timing helpers shared by the benchmarks (bench_dense.py, bench_blocksparse.py)."""

import triton.testing as tt


def bench(fn):
    """Median time of fn in ms (CUDA events, triton.testing.do_bench)."""
    return tt.do_bench(fn, warmup=25, rep=100, return_mode="median")


def bench_pair(fn_a, fn_b, rounds=3):
    """Medians of fn_a and fn_b measured in turns (a, b, a, b, ...): with one
    after the other, the second gained 0-5% on identical code (clocks and
    caches settle), which is the size of the differences compared."""
    a, b = [], []
    for _ in range(rounds):
        a.append(bench(fn_a))
        b.append(bench(fn_b))
    return sorted(a)[rounds // 2], sorted(b)[rounds // 2]
