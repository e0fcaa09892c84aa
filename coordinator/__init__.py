"""The coordinator daemon: sequences rounds, collects partial sums, publishes aggregates.

It never receives a share; it sees only per-node partial sums, which are uniform and
independent of any single input unless all of them are added (DESIGN 1, 4.1).
This package may import `mpcnode`; `mpcnode` never imports it.
"""
