/*
 * usage: npy_roundtrip IN.npy OUT.npy -- read IN with nnla_npy_read() and write it back with
 * nnla_npy_write() (C-order little-endian float64). On failure print the status name on
 * stderr and exit 1. Driven by tests/npy/numpy_check.py.
 */
#include <stdio.h>

#include <nnla.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: npy_roundtrip IN.npy OUT.npy\n");
        return 2;
    }
    nnla_array a = {0};
    nnla_status st = nnla_npy_read(argv[1], &a);
    if (st == NNLA_OK) st = nnla_npy_write_array(argv[2], &a);
    nnla_array_free(&a);
    if (st != NNLA_OK) {
        fprintf(stderr, "%s\n", nnla_status_name(st));
        return 1;
    }
    return 0;
}
