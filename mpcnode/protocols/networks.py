"""Batcher's odd-even merge sorting network (K. E. Batcher, "Sorting networks and their
applications", AFIPS 1968), in layers of disjoint comparators (pure).

A secure sort runs one layer per batch of comparisons, so the depth, not the comparator
count, sets the number of communication steps: (log2 n)(log2 n + 1)/2 layers. For n not a
power of two this is the network for the next power of two with the comparators that touch
a missing position left out, which still sorts (the missing positions act as +infinity).
"""

from __future__ import annotations


def sorting_layers(n: int) -> list[list[tuple[int, int]]]:
    """Layers of comparators (i, j), i < j, that sort n positions ascending."""
    layers: list[list[tuple[int, int]]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            layer = []
            j = k % p
            while j + k < n:
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        layer.append((i + j, i + j + k))
                j += 2 * k
            if layer:
                layers.append(layer)
            k //= 2
        p *= 2
    return layers
