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

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        test_sleep_us(200000);
        uint64_t d = atomic_load(&test_deadline);
        if (d != 0 && test_now_ns() > d) {
            fprintf(stderr, "HANG: test %s did not finish in time; a task or wake-up was stranded\n",
                    current_test);
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
