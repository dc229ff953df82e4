"""`scripts/bench_index.py --sharded N`: streaming and sharded index builds, measured."""
