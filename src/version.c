/* Run-time version of the loaded library. */
#include "internal.h"

#define NNLA_STR2_(x) #x
#define NNLA_STR_(x) NNLA_STR2_(x)

const char *nnla_version(void)
{
    return NNLA_STR_(NNLA_VERSION_MAJOR) "." NNLA_STR_(NNLA_VERSION_MINOR) "." NNLA_STR_(
        NNLA_VERSION_PATCH);
}

unsigned nnla_version_number(void) { return (unsigned)NNLA_VERSION_NUMBER; }
