"""Batcher's odd-even merge sorting network (K. E. Batcher, "Sorting networks and their
applications", AFIPS 1968), in layers of disjoint comparators (pure).

A secure sort runs one layer per batch of comparisons, so the depth, not the comparator
count, sets the number of communication steps: (log2 n)(log2 n + 1)/2 layers. For n not a
power of two this is the network for the next power of two with the comparators that touch
a missing position left out, which still sorts (the missing positions act as +infinity).
"""

from __future__ import annotations


def sorting_layers(n: int) -> list[list[tuple[int, int]]]:
    """Layers of comparators (i, j), i < j, that sort n positions ascending.

    Batcher's comparators in his order, each placed in the earliest layer after the last
    comparator on either of its positions: the same network, with its depth as short as
    its dependencies allow (for n not a power of two this saves layers, e.g. 6 -> 5 at n = 5).
    """
    layers: list[list[tuple[int, int]]] = []
    ready = [0] * n  # the first layer each position is free in
    for i, j in _batcher(n):
        layer = max(ready[i], ready[j])
        if layer == len(layers):
            layers.append([])
        layers[layer].append((i, j))
        ready[i] = ready[j] = layer + 1
    return layers


def _batcher(n: int) -> list[tuple[int, int]]:
    comparators: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            j = k % p
            while j + k < n:
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        comparators.append((i + j, i + j + k))
                j += 2 * k
            k //= 2
        p *= 2
    return comparators
