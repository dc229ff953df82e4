"""Ingest: dump reading, row validation and the bulk upsert into the product store."""
