"""Facet's engine core, shared by the batch indexer and the HTTP API.

Nothing in here imports `indexer` or `api`, and nothing reads the environment except `Settings`.
"""
