#!/usr/bin/env bash
# The README's main command: install Facet into .venv, load the sample catalogue and embed it.
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
