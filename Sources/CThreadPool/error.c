/* The one table of error messages, and the version. */
#include "ctp/ctp.h"

unsigned ctp_version(void)
{
    return CTP_VERSION_MAJOR * 10000u + CTP_VERSION_MINOR * 100u + CTP_VERSION_PATCH;
}

const char *ctp_strerror(int code)
{
    switch (code) {
    case CTP_OK:
        return "success";
    case CTP_EINVAL:
        return "invalid argument";
    case CTP_ENOMEM:
        return "out of memory or threads";
    case CTP_ESHUTDOWN:
        return "pool is shutting down or stopped";
    case CTP_EFULL:
        return "queue is full";
    case CTP_ETIMEDOUT:
        return "timed out";
    case CTP_EDEADLK:
        return "would wait for the calling thread itself";
    default:
        return "unknown error code";
    }
}
