/**
 * @file nnla/rng.h
 * @brief libnnla's own seeded random number generator: xoshiro256** seeded by splitmix64.
 *
 * Everything random in libnnla (initializers, randomized SVD, shuffling, dropout, attacks with a
 * random start) draws from an ::nnla_rng that the caller seeds, so the same seed gives the same
 * numbers on every machine and in every release of one major version, independently of libc's
 * rand() and of any global state.
 *
 * - The generator is xoshiro256** 1.0 (D. Blackman and S. Vigna, "Scrambled linear pseudorandom
 *   number generators", ACM TOMS 47(4), 2021): 256 bits of state, period 2^256 - 1, and a jump
 *   function that advances the state by 2^128 steps (non-overlapping streams for threads).
 * - nnla_rng_seed() expands a 64-bit seed into the state with splitmix64 (G. Steele, D. Lea and
 *   C. Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014), as the authors of
 *   xoshiro recommend; the state is never all zero.
 * - Uniform doubles take the top 53 bits: (next >> 11) * 2^-53, in [0, 1), every value a multiple
 *   of 2^-53.
 * - Normal samples use Marsaglia's polar method (two uniforms in (-1, 1) per attempt, rejected
 *   outside the unit disc, then x = u sqrt(-2 ln s / s), y = v sqrt(-2 ln s / s)); both values of
 *   an accepted pair are used, in that order. Only sqrt (exact in IEEE arithmetic) and log are
 *   involved, so results are bit-identical wherever the C library's log() is (glibc's is
 *   correctly rounded in practice).
 *
 * The generator is a plain struct the caller owns; functions on distinct generators may run on
 * different threads at once. A normal sample may leave its partner in the generator
 * (::nnla_rng::spare), so a generator's state is all four words plus the spare.
 */
#ifndef NNLA_RNG_H
#define NNLA_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "status.h"

NNLA_EXTERN_C_BEGIN

/** The state of a generator. Initialize it with nnla_rng_seed(); copy it to fork a sequence. */
typedef struct nnla_rng {
    uint64_t s[4];    /**< xoshiro256** state, never all zero after nnla_rng_seed() */
    double spare;     /**< the second normal sample of the last polar pair, when has_spare */
    int has_spare;    /**< whether spare holds an unused normal sample */
} nnla_rng;

/**
 * @brief Seed a generator: the state is the first four outputs of splitmix64 started at seed.
 * @param rng  the generator (any prior content is overwritten).
 * @param seed any 64-bit value (0 included).
 * @return ::NNLA_OK; ::NNLA_ENULL.
 */
NNLA_API nnla_status nnla_rng_seed(nnla_rng *rng, uint64_t seed);

/**
 * @brief The next 64-bit output of xoshiro256**.
 * @param rng a seeded generator; must not be NULL (this function has no status to return).
 * @return the output.
 */
NNLA_API uint64_t nnla_rng_next(nnla_rng *rng);

/**
 * @brief A uniform double in [0, 1): (nnla_rng_next() >> 11) * 2^-53.
 * @param rng a seeded generator; must not be NULL.
 */
NNLA_API double nnla_rng_uniform(nnla_rng *rng);

/**
 * @brief A uniform integer in [0, n), without modulo bias (Lemire's multiply-and-reject).
 * @param rng a seeded generator; must not be NULL.
 * @param n   the bound, >= 1 (0 gives 0).
 */
NNLA_API uint64_t nnla_rng_below(nnla_rng *rng, uint64_t n);

/**
 * @brief A standard normal sample (mean 0, variance 1), by the polar method.
 * @param rng a seeded generator; must not be NULL.
 */
NNLA_API double nnla_rng_normal(nnla_rng *rng);

/**
 * @brief Advance the state by 2^128 outputs (xoshiro256**'s jump): seed one generator, then copy
 *        and jump it once per extra stream to get non-overlapping streams. Drops any spare normal.
 * @return ::NNLA_OK; ::NNLA_ENULL.
 */
NNLA_API nnla_status nnla_rng_jump(nnla_rng *rng);

/**
 * @brief x[i] = lo + (hi - lo) u_i with u_i from nnla_rng_uniform(), for i < n, in order.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when lo or hi is not finite, lo > hi, or
 *         hi - lo overflows. On failure x and the generator are untouched. n == 0 is a no-op
 *         (x may then be NULL).
 */
NNLA_API nnla_status nnla_rng_fill_uniform(nnla_rng *rng, double lo, double hi, double *x, size_t n);

/**
 * @brief x[i] = mean + std z_i with z_i from nnla_rng_normal(), for i < n, in order.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when mean or std is not finite or std < 0.
 *         On failure x and the generator are untouched. n == 0 is a no-op (x may then be NULL).
 */
NNLA_API nnla_status nnla_rng_fill_normal(nnla_rng *rng, double mean, double std, double *x, size_t n);

/**
 * @brief Shuffle idx[0..n) in place (Fisher-Yates, from the last position down, with
 *        nnla_rng_below()).
 * @return ::NNLA_OK; ::NNLA_ENULL (idx NULL with n > 0). n <= 1 draws nothing.
 */
NNLA_API nnla_status nnla_rng_shuffle(nnla_rng *rng, size_t *idx, size_t n);

NNLA_EXTERN_C_END

#endif /* NNLA_RNG_H */
