"""Facet's batch job: catalogue dump -> product store -> vectors -> index."""
