"""Parts of scripts/bench_embed.py: the test images, the baselines, the pipeline run."""
