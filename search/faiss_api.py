"""FAISS, typed as Any: its bundled stubs miss much of the SWIG API (DirectMap, search parameters,
ID selectors...), and wrong types are worse than none."""

from typing import Any

import faiss as _faiss

faiss: Any = _faiss
