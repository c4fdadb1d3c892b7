"""The shape and layouts of issue 5's block-sparse benchmark, without the
GPU modules: bench_blocksparse.py times them, ab_templates.py and
profile_blocksparse.py reuse them, fill_bound.py counts their bytes."""

B, H, S, D = 2, 16, 8192, 128


def layouts(block):
    # Block granularity: each block on with probability d (element
    # granularity, xFormers' own, turns nearly every block on).
    out = [("random d=%.2f" % d, {"pattern": "random", "density": d, "seed": 1,
                                  "granularity": "block",
                                  "different_layout_per_head": True})
           for d in (0.05, 0.1, 0.25, 0.5)]
    out += [
        ("bigbird", {"pattern": "bigbird", "num_random_blocks": 3,
                     "num_sliding_window_blocks": 3, "num_global_blocks": 1,
                     "different_layout_per_head": True, "seed": 0}),
        ("bslongformer", {"pattern": "bslongformer", "num_sliding_window_blocks": 7,
                          "global_block_indices": [0]}),
        ("fixed", {"pattern": "fixed", "num_local_blocks": 8, "num_global_blocks": 1}),
        ("sliding window", {"pattern": "local_sliding_window",
                            "num_sliding_window_blocks": max(3, 2048 // block + 1)}),
    ]
    return out


def config_for(block, layout, head_dim=None):
    """The xfc config of a layout of layouts(block) at the benchmark's shape
    (head_dim: D unless given)."""
    return {"name": "blocksparse", "head_dim": head_dim or D, "num_heads": H, "dtype": "bf16",
            "block_size": block, "seq_len": S, "layout": layout}


def tag_of(name, block):
    """A file-name tag for layout `name` at `block`."""
    return "%s_b%d" % (name.replace(" ", "_").replace("=", ""), block)


def uniform_rows(kind, n, block=128, seq_len=S):
    """A block layout (nested lists) of seq_len / block rows with n blocks in
    every row: the first n ("same": the dense problem over n * block keys,
    through the block-sparse path) or n contiguous ones from the diagonal
    block, moved left where they would pass the last block ("band")."""
    blocks = seq_len // block
    rows = []
    for r in range(blocks):
        first = 0 if kind == "same" else min(r, blocks - n)
        rows.append([1 if first <= c < first + n else 0 for c in range(blocks)])
    return rows
