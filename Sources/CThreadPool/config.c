/* Pool configuration: defaults, validation with a message for each bad
 * setting (ctp_last_error_message), and which topology a pool uses. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CTP__DEFAULT_SPIN_NS = 0,
};
#define CTP__MIN_STACK ((size_t)64 << 10)
#define CTP__MAX_SPIN_NS ((uint64_t)1000000000u)
#define CTP__MAX_BACKOFF_NS ((uint64_t)60000000000u)
#define CTP__MIN_STALL_NS ((uint64_t)1000000u)
#define CTP__DEFAULT_PREWAKE_LEAD_NS ((uint64_t)100000u)
#define CTP__MAX_PREWAKE_LEAD_NS ((uint64_t)50000000u)
#define CTP__MAX_REMOTE_STEAL_DELAY_NS ((uint64_t)100000000u)
/* 300 us: at 100 us the tick-barrier case (docs/scheduler.md, "The grace
 * period") kept 69-88% at home on a VM whose wake-ups take 100-250 us, at
 * 300 us 97.6-99.8%, round time within 1.11x of NUMA off. */
#define CTP__DEFAULT_REMOTE_STEAL_DELAY_NS ((uint64_t)300000u)
#define CTP__MAX_STALL_NS ((uint64_t)3600000000000u)

void ctp_config_init(ctp_config *config)
{
    if (config == NULL)
        return;
    memset(config, 0, sizeof *config); /* every field's default is 0 / NULL ... */
    config->spin_ns = CTP__DEFAULT_SPIN_NS; /* ... except these */
    config->numa_mode = CTP_NUMA_AUTO;
    config->affinity = CTP_AFFINITY_NONE;
    config->prewake_lead_ns = CTP__DEFAULT_PREWAKE_LEAD_NS;
    config->remote_steal_delay_ns = CTP__DEFAULT_REMOTE_STEAL_DELAY_NS;
    config->wake_elsewhere = true;
}

/* The reason the last ctp_pool_create on this thread failed. */
static _Thread_local char last_error[256];

const char *ctp_last_error_message(void)
{
    return last_error;
}

int ctp__create_error(int rc, const char *msg)
{
    snprintf(last_error, sizeof last_error, "%s", msg);
    return rc;
}

int ctp__config_validate(const ctp_config *c)
{
    if (c->workers > CTP_MAX_WORKERS)
        return ctp__create_error(CTP_EINVAL, "workers is above CTP_MAX_WORKERS (1024)");
    if (c->spin_ns > CTP__MAX_SPIN_NS)
        return ctp__create_error(CTP_EINVAL, "spin_ns is above 1 second");
    if (c->backoff_ns > CTP__MAX_BACKOFF_NS)
        return ctp__create_error(CTP_EINVAL, "backoff_ns is above 60 seconds");
    if (c->stack_size != 0 && c->stack_size < CTP__MIN_STACK)
        return ctp__create_error(CTP_EINVAL, "stack_size is below 64 KiB");
    if ((unsigned)c->numa_mode > CTP_NUMA_OFF)
        return ctp__create_error(CTP_EINVAL, "numa_mode is not CTP_NUMA_AUTO or CTP_NUMA_OFF");
    if ((unsigned)c->affinity > CTP_AFFINITY_CPU)
        return ctp__create_error(CTP_EINVAL, "affinity is not a ctp_affinity value");
    if (c->stall_ns != 0 && (c->stall_ns < CTP__MIN_STALL_NS || c->stall_ns > CTP__MAX_STALL_NS))
        return ctp__create_error(CTP_EINVAL, "stall_ns is not 0 or between 1 ms and 1 hour");
    if (c->prewake_lead_ns == 0 || c->prewake_lead_ns > CTP__MAX_PREWAKE_LEAD_NS)
        return ctp__create_error(CTP_EINVAL, "prewake_lead_ns is not between 1 ns and 50 ms");
    if (c->remote_steal_delay_ns > CTP__MAX_REMOTE_STEAL_DELAY_NS)
        return ctp__create_error(CTP_EINVAL, "remote_steal_delay_ns is above 100 ms");
    if ((c->on_stall != NULL || c->stall_ctx != NULL) && c->stall_ns == 0)
        return ctp__create_error(CTP_EINVAL, "on_stall or stall_ctx is set but stall_ns is 0 (stall detection off)");
    return CTP_OK;
}

/* The topology: config, else CTP_TOPOLOGY, else the machine's. */
int ctp__config_topology(const ctp_config *c, ctp__topology *t, bool *simulated)
{
    const char *spec = c->topology;
    const char *origin = "config.topology";
    if (spec == NULL) {
        spec = getenv("CTP_TOPOLOGY");
        origin = "CTP_TOPOLOGY";
    }
    *simulated = spec != NULL;
    if (spec == NULL)
        return ctp__topology_discover(t) == CTP_OK ? CTP_OK : ctp__create_error(CTP_ENOMEM, "out of memory reading the topology");
    char err[200];
    int rc = ctp__topology_parse(spec, t, err, sizeof err);
    if (rc == CTP_EINVAL) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", origin, err);
        return ctp__create_error(rc, msg);
    }
    return rc == CTP_OK ? CTP_OK : ctp__create_error(rc, "out of memory reading the topology");
}

