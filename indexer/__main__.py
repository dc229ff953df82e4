"""`python -m indexer` runs the `facet` command line."""

from indexer.cli import main

main()
