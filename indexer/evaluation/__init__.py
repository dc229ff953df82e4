"""Retrieval quality: metrics, the evaluation run and its report."""
