/* Memory, threads and fork detection for the whole runtime (platform.h),
 * and the test
 * builds' fault injection: with CTP_TEST_HOOKS the n-th allocation or
 * thread creation can be made to fail, so the tests can check that every
 * failure path unwinds (nothing leaked, nothing half-queued). */
#define _DEFAULT_SOURCE /* madvise */
#include "platform.h"

#include "test_hooks.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Under AddressSanitizer or ThreadSanitizer malloc is the sanitizer's, not
 * glibc's: glibc's heap is never set up, and two threads trimming it at once
 * raced its lazy set-up (malloc_trim read a NULL arena: a flaky SEGV in the
 * ASan suite). There is nothing of ours to trim there, so no trim. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CTP__FOREIGN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CTP__FOREIGN_MALLOC 1
#endif
#endif

#if defined(__GLIBC__) && !defined(CTP__FOREIGN_MALLOC)
#define CTP__TRIM_GLIBC 1
#include <malloc.h>
#endif

#ifdef CTP_TEST_HOOKS
/* Test builds only: process-wide countdowns set by ctp_test_fail_nth (see
 * docs/scheduler.md, "Process-wide state"). Relaxed: each call takes one number; tests set them from
 * one thread while the runtime is quiet. */
static _Atomic long alloc_countdown = -1;
static _Atomic long thread_countdown = -1;
static _Atomic long alloc_calls;

void ctp_test_fail_nth(long alloc_n, long thread_n)
{
    atomic_store_explicit(&alloc_countdown, alloc_n, memory_order_relaxed);
    atomic_store_explicit(&thread_countdown, thread_n, memory_order_relaxed);
    atomic_store_explicit(&alloc_calls, 0, memory_order_relaxed);
}

long ctp_test_alloc_count(void)
{
    return atomic_load_explicit(&alloc_calls, memory_order_relaxed);
}

/* True if this call is the one to fail. */
static bool take(_Atomic long *countdown)
{
    long n = atomic_load_explicit(countdown, memory_order_relaxed);
    while (n >= 0) {
        if (atomic_compare_exchange_weak_explicit(countdown, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return n == 0;
    }
    return false;
}

static bool alloc_fails(void)
{
    atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
    return take(&alloc_countdown);
}
#define ALLOC_FAILS() alloc_fails()
#define THREAD_FAILS() take(&thread_countdown)
#else
#define ALLOC_FAILS() false
#define THREAD_FAILS() false
#endif

void *ctp__malloc(size_t size)
{
    return ALLOC_FAILS() ? NULL : malloc(size);
}

void *ctp__calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return ALLOC_FAILS() ? NULL : calloc(n, size);
}

void *ctp__aligned_alloc(size_t align, size_t size)
{
    if (size > SIZE_MAX - (align - 1))
        return NULL;
    size_t rounded = (size + align - 1) / align * align;
    return ALLOC_FAILS() ? NULL : aligned_alloc(align, rounded == 0 ? align : rounded);
}

void ctp__release_free_memory(void)
{
#ifdef CTP__TRIM_GLIBC
    /* glibc keeps freed heap memory for reuse; hand the free pages back. */
    malloc_trim(0);
#endif
}

void ctp__discard_pages(void *start, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t p = (uintptr_t)page;
    uintptr_t from = ((uintptr_t)start + p - 1) / p * p, to = ((uintptr_t)start + len) / p * p;
    if (to > from)
        madvise((void *)from, to - from, MADV_DONTNEED);
}

int ctp__thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    return THREAD_FAILS() ? -1 : pthread_create(thread, attr, fn, arg);
}

void ctp__thread_join(pthread_t thread)
{
    int cancel = ctp__cancel_off();
    pthread_join(thread, NULL);
    ctp__cancel_restore(cancel);
}

/* Fork detection. A pthread_atfork handler, registered once at the first
 * pool creation, bumps the generation in every child process; a pool keeps
 * the generation it was created in, so in a child (where it has no worker
 * threads and its locks may be held by threads that do not exist there) it
 * refuses every call. Fork is process-wide by nature, so this is
 * process-wide (docs/scheduler.md, "Process-wide state"). Relaxed: the child's handler runs
 * before any of the child's code, on its only thread. */
static _Atomic unsigned fork_generation;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, in_child);
}

unsigned ctp__fork_generation_watch(void)
{
    pthread_once(&fork_once, register_fork_handler);
    return ctp__fork_generation();
}

unsigned ctp__fork_generation(void)
{
    return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}
