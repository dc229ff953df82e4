#!/usr/bin/env bash
# The README's test command: install Facet with its dev, ray, postgres and milvus extras into .venv,
# then run every check CI runs (formatting, lint, types, tests). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ray,postgres,milvus]'

# The search page's browser test drives Debian's chromium; install it where we may.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null \
        || echo "scripts/test.sh: could not install chromium; the browser test will be skipped" >&2
fi

# The PostgreSQL store's tests start their own server from Debian's binaries; install them where
# we may. They are not optional: without them those tests fail, they are never skipped.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null \
        || echo "scripts/test.sh: could not install postgresql; its tests will fail" >&2
fi

.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
