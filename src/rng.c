/*
 * xoshiro256** 1.0 seeded by splitmix64, with uniform, bounded-integer and normal (polar) draws.
 * The algorithms are those of the papers cited in nnla/rng.h; the test suite checks the published
 * reference outputs of both generators.
 */
#include <math.h>

#include "internal.h"

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

nnla_status nnla_rng_seed(nnla_rng *rng, uint64_t seed)
{
    if (rng == NULL) return NNLA_ENULL;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
    /* splitmix64 is a bijection of its counter, so four consecutive outputs are never all zero;
     * keep the guarantee explicit all the same. */
    if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0) rng->s[0] = 1;
    rng->spare = 0.0;
    rng->has_spare = 0;
    return NNLA_OK;
}

uint64_t nnla_rng_next(nnla_rng *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nnla_rng_uniform(nnla_rng *rng) { return (double)(nnla_rng_next(rng) >> 11) * 0x1.0p-53; }

/* The 128-bit product a * b as its high and low words (portable C11, no __int128). */
static void mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    const uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    *lo = (mid << 32) | (p00 & 0xffffffffu);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

uint64_t nnla_rng_below(nnla_rng *rng, uint64_t n)
{
    if (n <= 1) return 0;
    /* Lemire, "Fast random integer generation in an interval", ACM TOMACS 2019: the high word
     * of x * n, rejecting the low words below 2^64 mod n. */
    uint64_t hi, lo;
    mul128(nnla_rng_next(rng), n, &hi, &lo);
    if (lo < n) {
        const uint64_t thresh = (0 - n) % n;
        while (lo < thresh) mul128(nnla_rng_next(rng), n, &hi, &lo);
    }
    return hi;
}

double nnla_rng_normal(nnla_rng *rng)
{
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * nnla_rng_uniform(rng) - 1.0;
        v = 2.0 * nnla_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = sqrt(-2.0 * log(s) / s);
    rng->spare = v * f;
    rng->has_spare = 1;
    return u * f;
}

nnla_status nnla_rng_jump(nnla_rng *rng)
{
    if (rng == NULL) return NNLA_ENULL;
    static const uint64_t jump[4] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL, 0xa9582618e03fc9aaULL,
                                     0x39abdc4529b1661cULL};
    uint64_t t[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (jump[i] & ((uint64_t)1 << b))
                for (int k = 0; k < 4; k++) t[k] ^= rng->s[k];
            (void)nnla_rng_next(rng);
        }
    for (int k = 0; k < 4; k++) rng->s[k] = t[k];
    rng->has_spare = 0;
    rng->spare = 0.0;
    return NNLA_OK;
}

nnla_status nnla_rng_fill_uniform(nnla_rng *rng, double lo, double hi, double *x, size_t n)
{
    if (rng == NULL || (x == NULL && n > 0)) return NNLA_ENULL;
    if (!isfinite(lo) || !isfinite(hi) || lo > hi || !isfinite(hi - lo)) return NNLA_EINVAL;
    const double w = hi - lo;
    for (size_t i = 0; i < n; i++) x[i] = lo + w * nnla_rng_uniform(rng);
    return NNLA_OK;
}

nnla_status nnla_rng_fill_normal(nnla_rng *rng, double mean, double std, double *x, size_t n)
{
    if (rng == NULL || (x == NULL && n > 0)) return NNLA_ENULL;
    if (!isfinite(mean) || !isfinite(std) || std < 0.0) return NNLA_EINVAL;
    for (size_t i = 0; i < n; i++) x[i] = mean + std * nnla_rng_normal(rng);
    return NNLA_OK;
}

nnla_status nnla_rng_shuffle(nnla_rng *rng, size_t *idx, size_t n)
{
    if (rng == NULL || (idx == NULL && n > 0)) return NNLA_ENULL;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)nnla_rng_below(rng, (uint64_t)i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    return NNLA_OK;
}
