/* The platform layer: monotonic time, timed condition waits, CPU hints.
 * The lowest layer of the runtime: it uses nothing of the runtime itself.
 * Implemented in time.c. */
#ifndef CTP_PLATFORM_H
#define CTP_PLATFORM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ctp__now_ns(void);
/* now + timeout, saturating; CTP_WAIT_FOREVER stays forever. */
uint64_t ctp__deadline(uint64_t timeout_ns);
/* A spin-wait hint (pause). */
void ctp__cpu_relax(void);
/* The CPU the calling thread runs on now, or -1 if unknown. A hint: the
 * thread may move right after. */
int ctp__current_cpu(void);
int ctp__cond_init_monotonic(pthread_cond_t *cv);
/* Waits on cv until signalled or the monotonic deadline; true on timeout. */
bool ctp__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t deadline_ns);

#endif
