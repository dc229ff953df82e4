"""The fault suite's parts: crashes, concurrency, a soak and upload fuzzing (`bench_faults.py`).

Every part drives the real `facet` CLI and a live uvicorn on 127.0.0.1 in subprocesses, runs
bounded loops with fixed seeds and stops by itself.
"""
