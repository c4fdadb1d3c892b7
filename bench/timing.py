"""Timing and checking helpers shared by the benchmarks (bench_dense.py,
bench_blocksparse.py, ab_templates.py, short_rows.py)."""

import triton.testing as tt


def bench(fn):
    """Median time of fn in ms (CUDA events, triton.testing.do_bench)."""
    return tt.do_bench(fn, warmup=25, rep=100, return_mode="median")


def rel_err(out, ref):
    """Relative error of out against ref (torch tensors), in fp32:
    ||out - ref|| / ||ref||. NaN where out has unwritten (poisoned) elements."""
    return ((out.float() - ref.float()).norm() / ref.float().norm()).item()


def bench_turns(fns, rounds=3):
    """Medians of each of fns measured in turns (fn 0, fn 1, ..., fn 0, ...),
    as bench_pair does for two."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for t, fn in zip(times, fns):
            t.append(bench(fn))
    return [sorted(t)[rounds // 2] for t in times]


def bench_pair(fn_a, fn_b, rounds=3):
    """Medians of fn_a and fn_b measured in turns (a, b, a, b, ...): with one
    after the other, the second gained 0-5% on identical code (clocks and
    caches settle), which is the size of the differences compared."""
    a, b = [], []
    for _ in range(rounds):
        a.append(bench(fn_a))
        b.append(bench(fn_b))
    return sorted(a)[rounds // 2], sorted(b)[rounds // 2]
