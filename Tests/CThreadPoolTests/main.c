/* Test runner: runs every registered test (or those named on the command
 * line) under a hang detector and prints "N passed, N failed". */
#include "harness.h"
#include "tests.h"

#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int test_failures;
double test_scale = 1.0;

uint64_t test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void test_sleep_us(unsigned us)
{
    struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
    nanosleep(&ts, NULL);
}

/* Recurses until the frame is below `below`, then calls fn. Frames, not a
 * big local array or alloca: AddressSanitizer's fake stacks (clang's
 * default) put both on the heap, leaving the thread's stack shallow. */
static __attribute__((noinline)) int deeper(uintptr_t below, int (*fn)(void *), void *arg)
{
    volatile char pad[64]; /* a frame of some size where locals stay on the stack */
    pad[0] = 0;
    if ((uintptr_t)__builtin_frame_address(0) > below)
        return deeper(below, fn, arg) + pad[0]; /* not a tail call */
    return fn(arg) + pad[0];
}

int test_below_stack_address(uintptr_t address, int (*fn)(void *), void *arg)
{
    return deeper(address, fn, arg);
}

int test_run_python(const char *script, const char *args)
{
    char path[] = "/tmp/ctp_test_py_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t len = strlen(script);
    ssize_t w = write(fd, script, len);
    close(fd);
    int rc = -1;
    if (w == (ssize_t)len) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "python3 %s %s 1>&2", path, args);
        rc = system(cmd);
    }
    unlink(path);
    return rc;
}

int test_thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Hang detector: a test that runs longer than this fails the whole run. */
static const char *current_test;
static _Atomic uint64_t test_deadline;

/* The pool a test registered for the hang report (test_watch_pool). */
static ctp_pool *_Atomic watched_pool;

void test_watch_pool(ctp_pool *pool)
{
    atomic_store(&watched_pool, pool);
}

/* The first line of /proc/self/task/<tid>/<file> into buf, newline cut;
 * buf keeps what it held if the file cannot be read. */
static void read_task_file(const char *tid, const char *file, char *buf, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/self/task/%s/%s", tid, file);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fgets(buf, (int)size, f) != NULL)
        buf[strcspn(buf, "\n")] = 0;
    fclose(f);
}

/* What the hang report adds: every thread's state and kernel wait channel
 * (where a blocked thread sleeps), and the watched pool's workers and
 * counts, so that a rare hang in CI says where it stuck. */
static void report_hang(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char comm[32] = "?", wchan[64] = "?", stat[256] = "", state = '?';
            read_task_file(e->d_name, "comm", comm, sizeof comm);
            read_task_file(e->d_name, "wchan", wchan, sizeof wchan);
            read_task_file(e->d_name, "stat", stat, sizeof stat);
            char *rp = strrchr(stat, ')'); /* the state follows the command name */
            if (rp != NULL && rp[1] == ' ')
                state = rp[2];
            fprintf(stderr, "  thread %s %-16s state %c wchan %s\n", e->d_name, comm, state, wchan);
        }
        closedir(d);
    }
    ctp_pool *pool = atomic_load(&watched_pool);
    if (pool == NULL)
        return;
    ctp_stats st;
    if (ctp_pool_stats(pool, &st) == CTP_OK)
        fprintf(stderr,
                "  pool: submitted %llu executed %llu cancelled %llu queued %llu parked %llu of %llu, "
                "parks %llu wakeups %llu\n",
                (unsigned long long)st.submitted, (unsigned long long)st.executed,
                (unsigned long long)st.cancelled, (unsigned long long)st.queued, (unsigned long long)st.parked,
                (unsigned long long)st.workers, (unsigned long long)st.parks, (unsigned long long)st.wakeups);
    ctp_worker_info info[16];
    size_t n = 0;
    if (ctp_pool_snapshot(pool, info, 16, &n) == CTP_OK)
        for (size_t i = 0; i < n && i < 16; i++)
            fprintf(stderr, "  worker %d: state %d, executed %llu, local queued %zu, label %s\n", info[i].index,
                    (int)info[i].state, (unsigned long long)info[i].executed, info[i].local_queued,
                    info[i].label != NULL ? info[i].label : "-");
}

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        test_sleep_us(200000);
        uint64_t d = atomic_load(&test_deadline);
        if (d != 0 && test_now_ns() > d) {
            fprintf(stderr, "HANG: test %s did not finish in time; a task or wake-up was stranded\n",
                    current_test);
            report_hang();
            fflush(stderr);
            _exit(3);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *s = getenv("CTP_TEST_SCALE");
    if (s != NULL && atof(s) > 0)
        test_scale = atof(s);
    unsigned hang_s = 60;
    const char *h = getenv("CTP_TEST_HANG_SECONDS");
    if (h != NULL && atoi(h) > 0)
        hang_s = (unsigned)atoi(h);
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);
    pthread_detach(wd);

    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof all_tests / sizeof all_tests[0]; i++) {
        const struct test_case *tc = &all_tests[i];
        if (argc > 1) {
            bool wanted = false;
            for (int a = 1; a < argc; a++)
                if (strstr(tc->name, argv[a]) != NULL)
                    wanted = true;
            if (!wanted)
                continue;
        }
        current_test = tc->name;
        int before = test_failures;
        uint64_t t0 = test_now_ns();
        atomic_store(&test_deadline, t0 + (uint64_t)hang_s * 1000000000u);
        tc->fn();
        atomic_store(&test_deadline, 0);
        test_watch_pool(NULL); /* a test that forgot: its pool is gone */
        double ms = (double)(test_now_ns() - t0) / 1e6;
        if (test_failures == before) {
            passed++;
            printf("PASS %-40s %8.1f ms\n", tc->name, ms);
        } else {
            failed++;
            printf("FAIL %-40s %8.1f ms\n", tc->name, ms);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
