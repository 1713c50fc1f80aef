/* Shared between the sleep protocol's files (sleep.c, sleep_prewake.c); not
 * used outside them. */
#ifndef CTP_SLEEP_INTERNAL_H
#define CTP_SLEEP_INTERNAL_H

#include "sleep.h"

/* Should a worker that looks for work stop looking (without a task)? */
bool ctp__sleep_stop_looking(ctp__sleep *s, const ctp__sleep_until *until);
/* The pre-wake window around the expected work: [*from, *to), or false if
 * none is set or it has passed. */
bool ctp__sleep_prewake_window(ctp__sleep *s, uint64_t now, uint64_t *from, uint64_t *to);
/* When a parked worker sets its timer for a window opening at `from`:
 * that much earlier than `from` as such timers have been ending late. */
uint64_t ctp__sleep_prewake_leave(ctp__sleep *s, uint64_t from);
/* A timer set by ctp__sleep_prewake_leave ended late_ns after it was due. */
void ctp__sleep_prewake_learn(ctp__sleep *s, uint64_t late_ns);
/* Searches through the pre-wake window (now inside it): sweeps for work,
 * pausing and yielding in between so that a thread about to submit on the
 * same CPU gets it. A task, or NULL when the window closed or the search
 * should stop. */
void *ctp__sleep_prewake_search(ctp__sleep *s, ctp__sleep_find_fn find, void *find_ctx, const ctp__sleep_until *until,
                                uint64_t deadline_ns, uint64_t to);

#endif
