"""Draws per second of each DP sampler: the exact ones and the vectorized AES-CTR path.

Usage: python benchmarks/bench_samplers.py [seconds-per-exact-case]

Prints one line per case; asserts nothing. The exact samplers run on the production source
(`SystemRandomSource`, the OS CSPRNG); the vectorized path draws 10^6 elements per call.
The numbers calibrate `exact_samplers.expected_polya_cost` and the mechanism's choice
between the exact and the vectorized sampler.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from fractions import Fraction

from mpcnode.core import exact_samplers as ex
from mpcnode.core.randomness import SystemRandomSource, UniformInts
from mpcnode.core.vector_samplers import VectorNoise

VECTOR_LENGTH = 10**6


def _rate(draw: Callable[[], object], seconds: float) -> float:
    """Draws per second of `draw`, called repeatedly for about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            draw()
        count += 20
    return count / elapsed


def exact_cases(u: UniformInts) -> list[tuple[str, Callable[[], object]]]:
    cases: list[tuple[str, Callable[[], object]]] = [
        ("bernoulli 1/3", lambda: ex.bernoulli(Fraction(1, 3), u)),
        ("bernoulli_exp 1/2", lambda: ex.bernoulli_exp(Fraction(1, 2), u)),
        ("geometric_exp 1/10", lambda: ex.geometric_exp(Fraction(1, 10), u)),
        ("discrete_laplace 10", lambda: ex.discrete_laplace(Fraction(10), u)),
        ("discrete_laplace 10^6", lambda: ex.discrete_laplace(Fraction(10**6), u)),
        ("discrete_gaussian 100", lambda: ex.discrete_gaussian(Fraction(100), u)),
        ("discrete_gaussian 10^6", lambda: ex.discrete_gaussian(Fraction(10**6), u)),
        ("poisson 1", lambda: ex.poisson(Fraction(1), u)),
        ("poisson 10", lambda: ex.poisson(Fraction(10), u)),
        ("skellam 10", lambda: ex.skellam(Fraction(10), u)),
        ("skellam 100", lambda: ex.skellam(Fraction(100), u)),
    ]
    for t in (2, 4, 8):
        for scale in (1, 10, 100, 1000):
            shape, gamma = Fraction(1, t), Fraction(1, scale)
            name = f"polya_difference 1/{t} scale {scale}"
            cases.append((name, functools.partial(ex.polya_difference, shape, gamma, u)))
    return cases


def vector_cases(v: VectorNoise) -> list[tuple[str, Callable[[], object]]]:
    n = VECTOR_LENGTH
    return [
        ("discrete_laplace 10", lambda: v.discrete_laplace(n, 10.0)),
        ("discrete_laplace 10^6", lambda: v.discrete_laplace(n, 1e6)),
        ("skellam 3 (table)", lambda: v.skellam(n, 3.0)),
        ("skellam 100 (PTRS)", lambda: v.skellam(n, 100.0)),
        ("skellam 10^8 (PTRS)", lambda: v.skellam(n, 1e8)),
        ("polya_difference 1/4 scale 10", lambda: v.polya_difference(n, 0.25, math.exp(-0.1))),
        ("polya_difference 1/4 scale 10^6", lambda: v.polya_difference(n, 0.25, math.exp(-1e-6))),
        ("polya_difference 1/2 scale 10^9", lambda: v.polya_difference(n, 0.5, math.exp(-1e-9))),
    ]


def main(seconds: float) -> None:
    u = UniformInts(SystemRandomSource())
    print(f"exact samplers (pure Python, OS CSPRNG), ~{seconds:g} s per case")
    for name, draw in exact_cases(u):
        print(f"  {name:38s} {_rate(draw, seconds):>12,.0f} draws/s")
    print(f"vectorized AES-CTR path, {VECTOR_LENGTH:,} elements per call")
    for name, draw in vector_cases(VectorNoise()):
        start = time.perf_counter()
        draw()
        elapsed = time.perf_counter() - start
        print(f"  {name:38s} {VECTOR_LENGTH / elapsed:>12,.0f} draws/s ({elapsed * 1e3:.0f} ms)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
