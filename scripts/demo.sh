#!/usr/bin/env bash
# The README's main command: install Facet into .venv, load and index the sample catalogue,
# then serve the search page on http://127.0.0.1:8000 (FACET_API__HOST / FACET_API__PORT).
# Data goes to $FACET_HOME (default ./facet-data). Pass another dump as the first argument.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
CATALOG=${1:-scripts/sample_catalog/catalog.csv}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

.venv/bin/facet ingest "$CATALOG"
.venv/bin/facet build
.venv/bin/facet status
echo
echo "Open http://${FACET_API__HOST:-127.0.0.1}:${FACET_API__PORT:-8000}/ and drop in a photo,"
echo "e.g. one of scripts/sample_catalog/queries/*.jpg. Ctrl-C stops the server."
exec .venv/bin/facet-serve
