"""`facet inspect`'s report: the photos, their heatmap overlays, scores and verdicts."""
