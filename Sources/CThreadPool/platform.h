/* The platform layer: monotonic time, timed condition waits, CPU hints.
 * The lowest layer of the runtime: it uses nothing of the runtime itself.
 * Implemented in time.c. */
#ifndef CTP_PLATFORM_H
#define CTP_PLATFORM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
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
/* The lowest usable address of the calling thread's stack (above its guard
 * page), or 0 if unknown (Linux: pthread_getattr_np). */
uintptr_t ctp__stack_low(void);
/* Asks the kernel to end the calling thread's timed waits within 1 us of
 * their deadline instead of the default 50 us slack (Linux; elsewhere a
 * no-op). Workers do it: pre-wake and backoff deadlines mean something. */
void ctp__precise_timers(void);
int ctp__cond_init_monotonic(pthread_cond_t *cv);
/* How often a thread blocked on something no wake-up reaches looks again:
 * a worker too deep in its stack waiting on a group whose tasks come from
 * outside (group.c), and a tick's end waiting for its running on_overrun
 * (monitor.c). Short enough not to stretch a tick much, long enough to cost
 * nothing measurable while blocked. */
#define CTP__RECHECK_NS ((uint64_t)1000 * 1000)

/* The length of the longest prefix of the NUL-terminated s that is at most
 * max bytes and does not end inside a UTF-8 sequence (thread names: a name
 * cut in the middle of a character shows as invalid UTF-8 in /proc). */
static inline size_t ctp__utf8_fit(const char *s, size_t max)
{
    size_t len = 0;
    while (len < max && s[len] != '\0')
        len++;
    /* s[len] is the first byte left out: a continuation byte (10xxxxxx)
     * there means the kept part ends inside its character. */
    while (len > 0 && ((unsigned char)s[len] & 0xC0u) == 0x80u)
        len--;
    return len;
}

/* CPU homes (cpu_home.c): the CPUs a thread may run on, so that another
 * thread can keep it off one of them until it runs again. Linux; elsewhere
 * `cpus` stays 0 and the calls do nothing. A zeroed home is inert. */
typedef struct ctp__cpu_home {
    int cpus; /* CPUs in mask; 0 = not taken (inert), 1 = nowhere else to go */
    int tid;
    uint64_t mask[16]; /* a cpu_set_t (1024 CPUs) */
} ctp__cpu_home;
/* By the thread itself: records its thread id and its affinity now. */
void ctp__cpu_home_take(ctp__cpu_home *h);
/* By any thread: restricts the home's thread to its home minus `cpu`, if
 * that leaves a CPU and `cpu` is in it. True if it did. One system call:
 * about 1.2 us on the 2-vCPU test VM when warm, but 23 us p50 from a thread
 * that has just woken from a 48 ms sleep (2026-12-03), the case of a tick
 * thread waking a parked pool. */
bool ctp__cpu_home_avoid(const ctp__cpu_home *h, int cpu);
/* By the thread itself: its whole home again (about 0.9 us). */
void ctp__cpu_home_return(const ctp__cpu_home *h);

/* Memory and threads (resources.c): malloc, calloc (overflow-checked),
 * aligned_alloc (size rounded up to the alignment, overflow-checked) and
 * pthread_create. Every allocation and thread the runtime makes goes
 * through these, so test builds (CTP_TEST_HOOKS) can fail the n-th one
 * (ctp_test_fail_nth in test_hooks.h); release builds call libc directly. */
void *ctp__malloc(size_t size);
void *ctp__calloc(size_t n, size_t size);
void *ctp__aligned_alloc(size_t align, size_t size);
int ctp__thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
/* pthread_join, not a cancellation point (see ctp__cancel_off). */
void ctp__thread_join(pthread_t thread);
/* After freeing a lot: asks the C library to return free pages to the
 * system (glibc's malloc_trim; nothing elsewhere). Not for hot paths. */
void ctp__release_free_memory(void);
/* Hands the whole pages inside [start, start + len) back to the system; the
 * range stays mapped and reads as zeros until written again. */
void ctp__discard_pages(void *start, size_t len);

/* Fork detection (resources.c): the number of fork()s between the first
 * pool creation and now, in this process's line (a child sees one more than
 * its parent had). _watch registers the handler (at pool creation). */
unsigned ctp__fork_generation_watch(void);
unsigned ctp__fork_generation(void);
/* Waits on cv until signalled or the monotonic deadline; true on timeout.
 * Not a cancellation point (see ctp__cancel_off). */
bool ctp__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t deadline_ns);

/* Thread cancellation. The runtime's own blocking calls (condition waits,
 * joins, the trace's file) are not cancellation points: a deferred cancel
 * acting there would end the thread holding a runtime lock or with a waiter
 * record linked on its stack. So each turns cancellation off around the
 * call and restores the caller's state after; a pending request then acts
 * at the thread's next cancellation point of its own (inside a task, for a
 * worker: ctp.h). _off returns the state to give _restore. */
int ctp__cancel_off(void);
void ctp__cancel_restore(int state);

#endif
