#!/usr/bin/env python3
"""SplitMix64 exactly as src/Reference.Core/SplitMix64.cs (golden/README.md, "Random inputs").

    from rng import SplitMix64
    g = SplitMix64(103)
    a = g.normal_f32_array((7, 8))   # the first input of linalg.gemm/odd_7x9x8_nn

Pure Python (math only) plus numpy for the array helper.
"""
import math

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self, low=0.0, high=1.0):
        u = (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)
        return low + (high - low) * u

    def normal(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def normal_f32_array(self, shape):
        """Standard normal draws rounded to float32, stored as float64, row-major."""
        count = int(np.prod(shape, dtype=np.int64))
        values = np.array([self.normal() for _ in range(count)], dtype=np.float64)
        return values.astype(np.float32).astype(np.float64).reshape(shape)


if __name__ == "__main__":
    g = SplitMix64(0)
    print([hex(g.next_u64()) for _ in range(3)])
