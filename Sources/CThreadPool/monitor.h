/* The pool's monitor thread: tick budgets (ctp__monitor_watch: a callback
 * at a deadline), and stall detection (ctp_config.stall_ns): a thread that looks at the
 * workers' live records (live.h) every stall_ns / 4 while any worker is
 * awake, and reports a task that has run longer than stall_ns, or tasks
 * queued while none started for stall_ns; once per episode each. It parks
 * without a timeout while every worker is parked, and the first worker to
 * leave its park pokes it, so an idle pool costs nothing. It reads the
 * workers lock-free and takes no lock a worker holds while running a task.
 *
 * Layer: lifecycle (started and stopped by pool.c). */
#ifndef CTP_MONITOR_H
#define CTP_MONITOR_H

#include "pool.h"

/* Sets up its lock (every pool, at creation). CTP_OK or CTP_ENOMEM. */
int ctp__monitor_init(ctp_pool *pool);
/* Starts the monitor thread if the pool's config asks for stall reports.
 * CTP_OK or CTP_ENOMEM. */
int ctp__monitor_start(ctp_pool *pool);
/* Fires w->fire(w->ctx, now) once, on the monitor thread, when w->deadline
 * (monotonic ns) passes, unless unwatched first; starts the monitor thread
 * if it is not running. CTP_OK, CTP_ENOMEM or CTP_ESHUTDOWN. */
int ctp__monitor_watch(ctp_pool *pool, ctp__watch *w);
/* Takes w off the watch list and sets *fired to whether it fired: CTP_OK.
 * If its callback is running it waits for it, calling help(ctx) (NULL:
 * none) meanwhile, which runs a task and returns 1, or returns 0 if it
 * found none (the callback may wait for a task only the caller can run);
 * CTP_ETIMEDOUT, still watched, if deadline (monotonic ns) passes first. */
int ctp__monitor_unwatch(ctp_pool *pool, ctp__watch *w, int (*help)(void *ctx), void *ctx, uint64_t deadline,
                         bool *fired);
/* Stops and joins the thread (no-op if not started); later watches fail
 * with CTP_ESHUTDOWN. The lock stays: a tick may still unwatch after a
 * shutdown. Idempotent. */
void ctp__monitor_stop(ctp_pool *pool);
/* Stops it if running and frees its lock and memory (the pool's free). */
void ctp__monitor_destroy(ctp_pool *pool);
/* Is the calling thread the pool's monitor thread (inside an on_stall or
 * on_overrun callback)? Any thread. */
bool ctp__monitor_is_self(ctp_pool *pool);
/* Is w's callback running on the calling thread right now (an on_overrun
 * that ends its own tick would wait for itself in ctp__monitor_unwatch)? */
bool ctp__monitor_firing_here(ctp_pool *pool, const ctp__watch *w);
/* A worker left its park: wakes the monitor if it is parked. Any worker. */
void ctp__monitor_poke(ctp_pool *pool);
/* The line printed for a stall when no on_stall callback is set, written
 * into out (capacity cap; NUL-terminated, cut to fit): pool name and label
 * quoted and escaped (no control byte, quote or backslash of theirs reaches
 * the line unescaped; at most 16 and 40 bytes of them, cut with "...").
 * Returns its length. Any thread. */
enum { CTP__STALL_LINE = 512 };
size_t ctp__stall_format(char *out, size_t cap, const char *pool_name, const ctp_stall_report *r);
/* Queued (not started) tasks: outside submissions plus the workers' deques. */
uint64_t ctp__queued_now(ctp_pool *pool);

#endif
