/* Configuration (config.c): validation and the topology a pool will use.
 * Used by the lifecycle (pool.c). Not installed. */
#ifndef CTP_CONFIG_H
#define CTP_CONFIG_H

#include <stdbool.h>

#include "ctp/ctp.h"
#include "numa.h"

#define CTP__DEFAULT_STACK_SIZE ((size_t)8 << 20)
/* Records msg for ctp_last_error_message on this thread; returns rc. */
int ctp__create_error(int rc, const char *msg);
/* CTP_OK, or CTP_EINVAL with the message recorded. */
int ctp__config_validate(const ctp_config *c);
/* The topology: config, else CTP_TOPOLOGY, else the machine's. */
int ctp__config_topology(const ctp_config *c, ctp__topology *t, bool *simulated);

#endif
