/* Test-only race-window hooks.
 *
 * Built with -DCTP_TEST_HOOKS (the C test suite does), the runtime calls a
 * test-supplied function at named points of the protocol, so a test can
 * yield or sleep there and widen race windows. Without the define every
 * CTP__HOOK expands to nothing: release builds pay nothing. */
#ifndef CTP_TEST_HOOKS_H
#define CTP_TEST_HOOKS_H

#include "ctp/ctp.h"

typedef enum {
    CTP_HOOK_BEFORE_PARK = 0,   /* found no work, registered as parked, before the re-check */
    CTP_HOOK_BEFORE_NOTIFY,     /* task published, before the fence and the sleeper check */
    CTP_HOOK_IN_STEAL,          /* between reading a victim's slot and claiming it */
    CTP_HOOK_SHUTDOWN,          /* between shutdown steps (state change, quiescence check, join) */
    CTP_HOOK_AFTER_SEARCH,      /* a searcher gave up its search slot, before the last-searcher check */
    CTP_HOOK_GROUP_BLOCK,       /* a group waiter registered, before it re-checks the group */
    CTP_HOOK_BETWEEN_WAKES,     /* a waker signalled one worker of a wake and will signal the next */
    CTP_HOOK_TRACE_WRITE,       /* a thread loaded the running trace, before it marks itself a writer */
    CTP_HOOK_IN_BATCH_TAKE,     /* a worker took a batch off an injection queue, before it pushed the rest on its deque */
    CTP_HOOK_TICK_WATCHED,      /* ctp_tick_begin registered the budget's watch (on_overrun may fire), before it returns */
    CTP_HOOK_COUNT
} ctp_test_hook_point;

typedef void (*ctp_test_hook_fn)(ctp_test_hook_point point, void *ctx);

#ifdef CTP_TEST_HOOKS
/* Like ctp_pool_create, with hook called at every hook point of this pool
 * (from any thread, concurrently). */
CTP_API int ctp_test_pool_create_hooked(const ctp_config *config, ctp_test_hook_fn hook, void *ctx,
                                        ctp_pool **out_pool);
/* Fault injection: from now on, the alloc_n-th memory allocation and the
 * thread_n-th thread creation the runtime makes (counting from 0, in any
 * pool, on any thread) fail, once each; -1 = never. Returns nothing;
 * ctp_test_alloc_count tells how many allocations were made since the last
 * call (to know when n went past the last one). Process-wide, test builds
 * only. */
CTP_API void ctp_test_fail_nth(long alloc_n, long thread_n);
CTP_API long ctp_test_alloc_count(void);
#define CTP__HOOK(pool, point)                                                                     \
    do {                                                                                           \
        if ((pool)->hook != NULL)                                                                  \
            (pool)->hook((point), (pool)->hook_ctx);                                               \
    } while (0)
#else
#define CTP__HOOK(pool, point) ((void)0)
#endif

#endif
