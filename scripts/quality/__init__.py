"""Parts of scripts/bench_quality.py: the Grocery files, and one ablation row's build and search."""
