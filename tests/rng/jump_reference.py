#!/usr/bin/env python3
"""Reference values for tests/test_rng.c, computed independently of libnnla's code.

xoshiro256**'s jump advances the state by 2^128 steps. Here that is done the slow, obvious way:
the state transition is a linear map over GF(2) (256 x 256 bits); it is raised to the power 2^128
by 128 squarings and applied to the state that splitmix64 makes from seed 42. The test compares
nnla_rng_jump() (which uses the published jump polynomial) with the result. Run it to regenerate
the constants: python3 tests/rng/jump_reference.py
"""
M = (1 << 64) - 1


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


def step(s):
    s = list(s)
    t = (s[1] << 17) & M
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)
    return s


def to_int(s):
    return s[0] | (s[1] << 64) | (s[2] << 128) | (s[3] << 192)


def from_int(v):
    return [(v >> (64 * i)) & M for i in range(4)]


def matrix():
    # column j of the transition matrix: the image of basis vector j, stored as ints (columns)
    return [to_int(step(from_int(1 << j))) for j in range(256)]


def apply(cols, v):
    r = 0
    j = 0
    while v:
        if v & 1:
            r ^= cols[j]
        v >>= 1
        j += 1
    return r


def square(cols):
    return [apply(cols, c) for c in cols]


def splitmix(seed):
    x = seed
    out = []
    for _ in range(4):
        x = (x + 0x9e3779b97f4a7c15) & M
        z = x
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
        out.append(z ^ (z >> 31))
    return out


cols = matrix()
for _ in range(128):
    cols = square(cols)
state = from_int(apply(cols, to_int(splitmix(42))))
print("/* state after seed 42 and one jump */")
print(", ".join("0x%016xULL" % w for w in state))
