"""Root of the test suite: puts tests/ on the import path, so that every folder's tests share
the helpers in tests/seeded.py (a reproducible random source, the protocol's shares and seeds
made in one process)."""
