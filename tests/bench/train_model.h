/* The training benchmark's models and data: see train_model.c. */
#ifndef NNLA_BENCH_TRAIN_MODEL_H
#define NNLA_BENCH_TRAIN_MODEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <nnla.h>

/* Up to max images of digits.csv.gz (pixels / 16) and their labels (malloc'ed); 1 on success. */
int train_load_digits(const char *path, size_t max, double **x, size_t **y, size_t *n);

/* The benchmark's CNN (cnn = 1) or MLP (0), initialized as PyTorch's defaults from seed. */
nnla_net *train_make_model(int cnn, uint64_t seed);

#endif
