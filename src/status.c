/* Status messages, generated from the one list in nnla/status.h. */
#include "internal.h"

const char *nnla_strerror(nnla_status status)
{
    switch (status) {
#define NNLA_STATUS_MSG_(name, value, msg)                                                         \
    case name:                                                                                     \
        return msg;
        NNLA_STATUS_LIST(NNLA_STATUS_MSG_)
#undef NNLA_STATUS_MSG_
    }
    return "unknown status";
}

const char *nnla_status_name(nnla_status status)
{
    switch (status) {
#define NNLA_STATUS_NAME_(name, value, msg)                                                        \
    case name:                                                                                     \
        return #name;
        NNLA_STATUS_LIST(NNLA_STATUS_NAME_)
#undef NNLA_STATUS_NAME_
    }
    return "NNLA_UNKNOWN";
}
