/* What a pool does when its process forks or one of its workers exits
 * (issue 12, item 9). */
#include "harness.h"

#include <sys/wait.h>
#include <unistd.h>

static void exit_task(void *arg)
{
    (void)arg;
    pthread_exit(NULL);
}

/* A task that calls pthread_exit: the worker is reported lost, its task
 * counts as finished, the group's wait returns, the other worker runs the
 * rest, and shutdown completes (it used to time out forever). */
void test_worker_exit_inside_task_is_reported(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    ctp_group *g;
    CHECK_OK(ctp_group_create(pool, &g));
    _Atomic long ran = 0;
    CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_HIGH, exit_task, NULL));
    /* Not from this thread's helping wait (it would exit this thread): let
     * a worker take it first. */
    ctp_stats st;
    do {
        test_sleep_us(200);
        CHECK_OK(ctp_pool_stats(pool, &st));
    } while (st.workers_lost == 0);
    for (int i = 0; i < 100; i++)
        CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(atomic_load(&ran), 100);
    CHECK_OK(ctp_pool_stats(pool, &st));
    CHECK_EQ(st.workers_lost, 1);
    /* The pool still runs work on the worker it has left. */
    for (int i = 0; i < 100; i++)
        CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_OK(ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, 10ull * 1000 * 1000 * 1000));
    CHECK_EQ(atomic_load(&ran), 200);
    CHECK_OK(ctp_pool_destroy(pool));
}

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif

/* In a child forked after the pool was created, every call on the inherited
 * pool returns CTP_EINVAL at once (it has no workers there, and its locks
 * may be held by threads the child does not have); a new pool works; the
 * parent's pool is unaffected. */
void test_fork_child_refuses_inherited_pool(void)
{
    ctp_pool *pool = make_pool(2);
    CHECK(pool != NULL);
    _Atomic long ran = 0;
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int code = 0;
        if (ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran) != CTP_EINVAL)
            code |= 1;
        ctp_group *g = NULL;
        if (ctp_group_create(pool, &g) != CTP_EINVAL)
            code |= 2;
        if (ctp_pool_help(pool) != CTP_EINVAL)
            code |= 4;
        if (ctp_pool_shutdown(pool, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER) != CTP_EINVAL)
            code |= 8;
        if (ctp_pool_destroy(pool) != CTP_EINVAL)
            code |= 16;
#ifndef TSAN /* ThreadSanitizer does not let a forked child start threads */
        ctp_pool *fresh = make_pool(1);
        _Atomic long n = 0;
        if (fresh == NULL || ctp_submit(fresh, CTP_PRIORITY_NORMAL, count_task, &n) != CTP_OK ||
            ctp_pool_destroy(fresh) != CTP_OK || atomic_load(&n) != 1)
            code |= 32;
#endif
        _exit(code);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK_OK(ctp_submit(pool, CTP_PRIORITY_NORMAL, count_task, &ran));
    CHECK_OK(ctp_pool_destroy(pool));
    CHECK_EQ(atomic_load(&ran), 2);
}
