"""Multi-step computations among the participating nodes (DESIGN 9): plain objects over the core.

`engine` is one party's side of a computation over Shamir shares, written as a generator
that yields one batched exchange per communication step; `compare` is the comparison of
Catrina and de Hoogh (2010); `programs` builds each computation (max, min, auction,
quantile, threshold, dominance) from them; `simulate` runs n parties in one process, the
way tests and benchmarks use them. No I/O and no gRPC: the node carries the exchanges.
"""
