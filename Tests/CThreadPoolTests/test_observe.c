/* Seeing inside a live pool (issue 14): stall reports, snapshots, thread
 * hooks and traces. */
#include "harness.h"

#include "../../Sources/CThreadPool/monitor.h"
#include "../../Sources/CThreadPool/pool.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define MS ((uint64_t)1000000u)

/* Bounded wait for a condition (a missed event shows as a failed CHECK). */
#define OB_WAIT_UNTIL(cond, ms)                                                                    \
    ({                                                                                             \
        uint64_t until_ = test_now_ns() + (uint64_t)(ms) * 1000000u;                               \
        while (!(cond) && test_now_ns() < until_)                                                  \
            test_sleep_us(200);                                                                    \
        (cond);                                                                                    \
    })

/* ---- Stall reports ---------------------------------------------------- */

enum { MAX_REPORTS = 16 };

typedef struct stalls {
    _Atomic(ctp_pool *) pool;     /* set after create, for the snapshot in the callback
                                     (atomic: the monitor may report before it is set) */
    pthread_mutex_t m;
    int n;
    ctp_stall_report r[MAX_REPORTS];
    ctp_worker_state state_in_snapshot[MAX_REPORTS]; /* the reported worker's, from the callback */
    const char *label_in_snapshot[MAX_REPORTS];
} stalls;

static void on_stall(const ctp_stall_report *r, void *ctx)
{
    stalls *s = ctx;
    ctp_worker_state st = CTP_WORKER_PARKED;
    const char *label = NULL;
    ctp_pool *pool = atomic_load(&s->pool);
    if (pool != NULL && r->worker >= 0) {
        ctp_worker_info info[8];
        size_t n = 0;
        if (ctp_pool_snapshot(pool, info, 8, &n) == CTP_OK && (size_t)r->worker < n) {
            st = info[r->worker].state;
            label = info[r->worker].label;
        }
    }
    pthread_mutex_lock(&s->m);
    if (s->n < MAX_REPORTS) {
        s->r[s->n] = *r;
        s->state_in_snapshot[s->n] = st;
        s->label_in_snapshot[s->n] = label;
    }
    s->n++;
    pthread_mutex_unlock(&s->m);
}

static int stall_count(stalls *s)
{
    pthread_mutex_lock(&s->m);
    int n = s->n;
    pthread_mutex_unlock(&s->m);
    return n;
}

/* Reports of one kind so far. A worker that takes longer than stall_ns to
 * start the tests' first task (seen under TSan on a loaded machine: up to
 * 200 ms) rightly adds a queue report, so tests about task reports count
 * those alone. */
static int stall_count_kind(stalls *s, ctp_stall_kind kind)
{
    pthread_mutex_lock(&s->m);
    int k = 0;
    for (int i = 0; i < s->n && i < MAX_REPORTS; i++)
        k += s->r[i].kind == kind;
    pthread_mutex_unlock(&s->m);
    return k;
}

/* The index of the n-th (from 0) report of a kind, or -1. */
static int stall_index_kind(stalls *s, ctp_stall_kind kind, int n)
{
    pthread_mutex_lock(&s->m);
    int found = -1;
    for (int i = 0; i < s->n && i < MAX_REPORTS && found < 0; i++)
        if (s->r[i].kind == kind && n-- == 0)
            found = i;
    pthread_mutex_unlock(&s->m);
    return found;
}

static ctp_pool *stall_pool(size_t workers, uint64_t stall_ns, stalls *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->m, NULL);
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.stall_ns = stall_ns;
    c.on_stall = on_stall;
    c.stall_ctx = s;
    ctp_pool *p = NULL;
    if (ctp_pool_create(&c, &p) != CTP_OK)
        return NULL;
    atomic_store(&s->pool, p);
    return p;
}

typedef struct spin_arg {
    uint64_t ns;
    _Atomic int worker; /* who ran it */
    _Atomic int done;
} spin_arg;

static void spin_task(void *arg)
{
    spin_arg *a = arg;
    atomic_store(&a->worker, ctp_worker_index());
    uint64_t end = test_now_ns() + a->ns;
    while (test_now_ns() < end)
        test_sleep_us(500);
    atomic_store(&a->done, 1);
}

/* One task that runs 10 x stall_ns is reported once, with its worker,
 * label and elapsed time; a second one after it gives a second report. */
void test_stall_task_reported_once(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(2, 20 * MS, &s);
    CHECK(p != NULL);
    for (int round = 0; round < 2; round++) {
        spin_arg a = { .ns = 200 * MS };
        atomic_init(&a.worker, -1);
        atomic_init(&a.done, 0);
        ctp_task_desc d;
        ctp_task_desc_init(&d, spin_task, &a);
        d.label = round == 0 ? "bot 17 update" : "second hang";
        CHECK_OK(ctp_submit_desc(p, &d));
        CHECK(OB_WAIT_UNTIL(atomic_load(&a.done), 10000));
        test_sleep_us(30000); /* monitor periods after the end: no late report */
        CHECK_EQ(stall_count_kind(&s, CTP_STALL_TASK), round + 1);
        int at = stall_index_kind(&s, CTP_STALL_TASK, round);
        CHECK(at >= 0);
        ctp_stall_report *r = &s.r[at];
        CHECK_EQ(r->worker, atomic_load(&a.worker));
        CHECK(r->fn == spin_task);
        CHECK(r->arg == &a);
        CHECK(r->label != NULL && strcmp(r->label, d.label) == 0);
        CHECK(r->elapsed_ns >= 20 * MS);
        /* The callback may take a snapshot: it shows the stalled run. */
        CHECK_EQ(s.state_in_snapshot[at], CTP_WORKER_RUNNING);
        CHECK(s.label_in_snapshot[at] == d.label);
        fprintf(stderr, "  report %d after %.1f ms (stall_ns 20 ms)\n", round, (double)r->elapsed_ns / 1e6);
    }
    CHECK_OK(ctp_pool_destroy(p));
}

/* A task whose group wait blocks (its group's task is pinned to this thread,
 * which does not run it yet) is reported: the only worker is parked inside
 * the task, and the monitor took "every worker parked" for an idle pool and
 * slept until a wake-up (no report in 500 ms with stall_ns 10 ms). */
static ctp_group *waiting_group;
static void wait_for_waiting_group(void *arg)
{
    (void)arg;
    CHECK_OK(ctp_group_wait(waiting_group, CTP_WAIT_FOREVER));
}

void test_stall_task_waiting_in_group_reported(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(1, 10 * MS, &s);
    CHECK(p != NULL);
    ctp_pinned *q;
    CHECK_OK(ctp_pinned_create(p, &q));
    CHECK_OK(ctp_group_create(p, &waiting_group));
    ctp_task_desc d;
    ctp_task_desc_init(&d, noop, NULL);
    d.pinned = q;
    d.group = waiting_group;
    CHECK_OK(ctp_submit_desc(p, &d));
    ctp_task_desc_init(&d, wait_for_waiting_group, NULL);
    d.label = "waits for a pinned task";
    CHECK_OK(ctp_submit_desc(p, &d));
    CHECK(OB_WAIT_UNTIL(stall_count_kind(&s, CTP_STALL_TASK) >= 1, 2000));
    int at = stall_index_kind(&s, CTP_STALL_TASK, 0);
    CHECK(at >= 0);
    if (at >= 0) {
        CHECK_EQ(s.r[at].worker, 0);
        CHECK(s.r[at].fn == wait_for_waiting_group);
        CHECK(s.r[at].label == d.label);
        CHECK(s.r[at].elapsed_ns >= 10 * MS);
    }
    CHECK_EQ(ctp_pinned_run(q, 1), 1);
    CHECK_OK(ctp_pool_shutdown(p, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_pinned_destroy(q));
    CHECK_OK(ctp_group_destroy(waiting_group));
    CHECK_OK(ctp_pool_destroy(p));
}

/* A batch from outside that the only worker moved from the injection queue
 * to its deque, its first task blocked: a report counts the other 9 once.
 * It said 18: the moved tasks were counted in the deque and again as
 * outside submissions not yet started. */
void test_stall_report_counts_queued_once(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(1, 10 * MS, &s);
    CHECK(p != NULL);
    gate g;
    gate_init(&g);
    ctp_task_desc d[10];
    for (int i = 0; i < 10; i++)
        ctp_task_desc_init(&d[i], i == 0 ? gate_task : noop, &g);
    CHECK_OK(ctp_submit_batch(p, d, 10));
    wait_entered(&g, 1);
    CHECK(OB_WAIT_UNTIL(stall_count_kind(&s, CTP_STALL_TASK) >= 1, 10000));
    gate_open(&g);
    CHECK_OK(ctp_pool_shutdown(p, CTP_SHUTDOWN_DRAIN, CTP_WAIT_FOREVER));
    int n = stall_count(&s);
    for (int i = 0; i < n && i < MAX_REPORTS; i++) {
        /* A queue report may come before the worker has started the first
         * task (it can take longer than stall_ns to wake: 12-200 ms under
         * TSan on a loaded machine); then all 10 are queued, rightly. Each
         * task is still counted once (the bug said 18). */
        /* A queue report can also come while the worker moves the batch
         * from the injection queue to its deque: the count is a sum of
         * relaxed loads, one queue after the other, so mid-move it can miss
         * tasks or see some in both (1 in 200 runs under TSan and four busy
         * loops failed 9-or-10). Only the task report, taken once the move
         * is long done, must say 9: the bug counted every moved task twice,
         * in every report. */
        if (s.r[i].kind == CTP_STALL_QUEUE) {
            if (s.r[i].queued != 9 && s.r[i].queued != 10)
                fprintf(stderr, "  queue report %d mid-move: %llu queued\n", i, (unsigned long long)s.r[i].queued);
            CHECK(s.r[i].queued >= 1);
        } else {
            CHECK_EQ(s.r[i].queued, 9);
        }
    }
    CHECK_OK(ctp_pool_destroy(p));
}

/* Seeds 002 and 003: every worker blocked in a long task while work waits.
 * The queue stall is reported (once), besides each blocked task. */
void test_stall_queue_all_workers_blocked(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(2, 20 * MS, &s);
    CHECK(p != NULL);
    test_watch_pool(p); /* it hung once in CI (ASan): say where, if it does again */
    gate g;
    gate_init(&g);
    for (int i = 0; i < 2; i++)
        CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 2);
    /* Reports from here on: if the workers took longer than stall_ns to
     * start the gate tasks, an earlier queue report was right (stall_
     * report_counts_queued_once says why) and is not this episode's. */
    int base = stall_count(&s);
    spin_arg a = { .ns = 0 };
    atomic_init(&a.worker, -1);
    atomic_init(&a.done, 0);
    CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, spin_task, &a));
    bool queue_seen = false;
    uint64_t until = test_now_ns() + 10000 * MS;
    while (!queue_seen && test_now_ns() < until) {
        test_sleep_us(1000);
        pthread_mutex_lock(&s.m);
        for (int i = base; i < s.n && i < MAX_REPORTS; i++)
            queue_seen = queue_seen || s.r[i].kind == CTP_STALL_QUEUE;
        pthread_mutex_unlock(&s.m);
    }
    test_sleep_us(60000); /* several monitor periods: still one queue report */
    gate_open(&g);
    CHECK(OB_WAIT_UNTIL(atomic_load(&a.done), 10000));
    CHECK_OK(ctp_pool_destroy(p));
    test_watch_pool(NULL);
    CHECK(queue_seen);
    int queue = 0, task = 0;
    for (int i = 0; i < s.n && i < MAX_REPORTS; i++) {
        if (s.r[i].kind == CTP_STALL_QUEUE) {
            if (i < base)
                continue;
            queue++;
            CHECK_EQ(s.r[i].worker, -1);
            CHECK(s.r[i].fn == NULL);
            CHECK(s.r[i].queued >= 1);
            CHECK(s.r[i].elapsed_ns >= 20 * MS);
        } else {
            task++;
            CHECK(s.r[i].fn == gate_task);
        }
    }
    CHECK_EQ(queue, 1);
    CHECK_EQ(task, 2);
}

static void short_task(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
}

/* Tasks shorter than stall_ns are never reported, over 10,000 submits,
 * single and batched, from outside and from tasks. */
void test_stall_no_report_for_short_tasks(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(2, 250 * MS, &s);
    CHECK(p != NULL);
    _Atomic long ran = 0;
    ctp_group *g;
    CHECK_OK(ctp_group_create(p, &g));
    for (int i = 0; i < 10000; i++) {
        CHECK_OK(ctp_group_submit(g, CTP_PRIORITY_NORMAL, short_task, (void *)&ran));
        if (i % 500 == 499) {
            CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
            test_sleep_us(2000); /* let the workers park now and then */
        }
    }
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(atomic_load(&ran), 10000);
    CHECK_OK(ctp_pool_destroy(p));
    CHECK_EQ(s.n, 0);
}

/* An idle pool with stall detection on: the monitor parks with the workers
 * (no wake-up of its own while they sleep), and wakes with them. */
void test_stall_monitor_sleeps_while_idle(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(2, 1 * MS, &s); /* the shortest period there is */
    CHECK(p != NULL);
    wait_parked(p, 2);
    CHECK(OB_WAIT_UNTIL(atomic_load(&p->monitor.idle), 5000));
    uint64_t before = atomic_load(&p->monitor.wakeups);
    ctp_stats st0, st1;
    ctp_pool_stats(p, &st0);
    test_sleep_us(200000); /* 200 periods */
    ctp_pool_stats(p, &st1);
    CHECK_EQ(atomic_load(&p->monitor.wakeups), before);
    CHECK_EQ(st1.parks, st0.parks);
    CHECK(atomic_load(&p->monitor.idle));
    /* Work wakes it: a task of 20 periods is reported. */
    spin_arg a = { .ns = 20 * MS };
    atomic_init(&a.worker, -1);
    atomic_init(&a.done, 0);
    CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, spin_task, &a));
    CHECK(OB_WAIT_UNTIL(atomic_load(&a.done), 10000));
    CHECK(atomic_load(&p->monitor.wakeups) > before);
    CHECK(OB_WAIT_UNTIL(stall_count(&s) >= 1, 5000));
    CHECK_OK(ctp_pool_destroy(p));
}

/* The line printed when no on_stall is set quotes the label and the pool
 * name and escapes them: a label with a newline, a quote or a control byte
 * cannot break the line or forge another, and a long one is cut between
 * UTF-8 characters, with "...". */
static void check_one_line(const char *line)
{
    size_t n = strlen(line);
    CHECK(n > 0 && line[n - 1] == '\n');
    for (size_t i = 0; i + 1 < n; i++)
        CHECK((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] != 0x7f);
}

void test_stall_line_escapes_label_and_name(void)
{
    char line[CTP__STALL_LINE];
    ctp_stall_report r = { .kind = CTP_STALL_TASK, .worker = 1, .elapsed_ns = 25 * MS, .queued = 3,
                           .label = "a\"b\\c\nctp: pool \"x\": forged\x01\x7f" };
    size_t n = ctp__stall_format(line, sizeof line, "p\nq", &r);
    CHECK_EQ(n, strlen(line));
    check_one_line(line);
    CHECK(strcmp(line, "ctp: pool \"p\\x0aq\": worker 1 has been running task \"a\\\"b\\\\c\\x0actp: pool "
                       "\\\"x\\\": forged\\x01\\x7f\" for 25.0 ms (3 tasks queued)\n") == 0);

    /* 41 bytes or more: cut at 40, never inside a character (é is two bytes). */
    r.label = "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    ctp__stall_format(line, sizeof line, "pool", &r);
    check_one_line(line);
    const char *q = strstr(line, "task \"x");
    CHECK(q != NULL);
    CHECK(strncmp(q + 6 + 39, "...\" for", 8) == 0); /* x and 19 whole é: 39 bytes */

    /* Exactly 40 bytes: not cut. */
    r.label = "0123456789012345678901234567890123456789";
    ctp__stall_format(line, sizeof line, "pool", &r);
    CHECK(strstr(line, "\"0123456789012345678901234567890123456789\" for") != NULL);

    r = (ctp_stall_report){ .kind = CTP_STALL_QUEUE, .worker = -1, .elapsed_ns = 30 * MS, .queued = 7 };
    ctp__stall_format(line, sizeof line, "a\"\x1b[2J", &r);
    check_one_line(line);
    CHECK(strncmp(line, "ctp: pool \"a\\\"\\x1b[2J\": 7 tasks queued", 36) == 0);

    /* A buffer too small: cut, terminated, length within it. */
    char small[24];
    n = ctp__stall_format(small, sizeof small, "pool", &r);
    CHECK(n == strlen(small) && n < sizeof small);
}

/* End to end: with no on_stall, the stall line goes to stderr, one line,
 * escaped (stderr is a file for the duration). */
void test_stall_default_line_on_stderr(void)
{
    char path[] = "/tmp/ctp-stall-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fd, 2) == 2);
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 1;
    c.stall_ns = 20 * MS;
    c.name = "we\nird";
    ctp_pool *p = NULL;
    CHECK_OK(ctp_pool_create(&c, &p));
    spin_arg a = { .ns = 120 * MS };
    atomic_init(&a.worker, -1);
    atomic_init(&a.done, 0);
    ctp_task_desc d;
    ctp_task_desc_init(&d, spin_task, &a);
    d.label = "bot\nupdate";
    CHECK_OK(ctp_submit_batch(p, &d, 1));
    bool done = OB_WAIT_UNTIL(atomic_load(&a.done), 10000);
    CHECK_OK(ctp_pool_destroy(p));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK(done);
    char buf[1024] = { 0 };
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    CHECK(got > 0);
    const char *want = "ctp: pool \"we\\x0aird\": worker 0 has been running task \"bot\\x0aupdate\" for ";
    CHECK(strncmp(buf, want, strlen(want)) == 0);
    CHECK(strchr(buf, '\n') == buf + got - 1); /* one line */
}

void test_stall_config_validation(void)
{
    ctp_config c;
    ctp_config_init(&c);
    CHECK_EQ(c.stall_ns, 0);
    CHECK(c.on_stall == NULL && c.on_thread_start == NULL && c.on_thread_stop == NULL);
    ctp_pool *p = NULL;
    c.stall_ns = 1000; /* below 1 ms */
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    CHECK(strstr(ctp_last_error_message(), "stall_ns") != NULL);
    c.stall_ns = 2 * 3600 * 1000 * MS;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    c.stall_ns = 0;
    c.on_stall = on_stall;
    CHECK_EQ(ctp_pool_create(&c, &p), CTP_EINVAL);
    CHECK(strstr(ctp_last_error_message(), "on_stall") != NULL);
    ctp_task_desc d;
    memset(&d, 0x5a, sizeof d);
    ctp_task_desc_init(&d, short_task, NULL);
    CHECK(d.label == NULL);
}

/* ---- Snapshot --------------------------------------------------------- */

typedef struct labelled {
    gate *g;
    _Atomic int worker;
} labelled;

static void labelled_task(void *arg)
{
    labelled *l = arg;
    atomic_store(&l->worker, ctp_worker_index());
    gate_task(l->g);
}

static void snapshot_under_load(bool timed)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 2;
    if (timed)
        c.stall_ns = 3600 * 1000 * MS; /* on, never reached: tasks are timed */
    ctp_pool *p = NULL;
    CHECK_OK(ctp_pool_create(&c, &p));
    size_t count = 0;
    CHECK_OK(ctp_pool_snapshot(p, NULL, 0, &count));
    CHECK_EQ(count, 2);
    CHECK_EQ(ctp_pool_snapshot(p, NULL, 1, &count), CTP_EINVAL);
    CHECK_EQ(ctp_pool_snapshot(NULL, NULL, 0, &count), CTP_EINVAL);
    CHECK_EQ(ctp_pool_snapshot(p, NULL, 0, NULL), CTP_EINVAL);
    wait_parked(p, 2);
    ctp_worker_info info[2];
    CHECK_OK(ctp_pool_snapshot(p, info, 2, &count));
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(info[i].index, i);
        CHECK_EQ(info[i].state, CTP_WORKER_PARKED);
        CHECK(info[i].fn == NULL && info[i].label == NULL);
        CHECK_EQ(info[i].running_ns, 0);
    }
    gate g;
    gate_init(&g);
    labelled la = { .g = &g }, lb = { .g = &g };
    atomic_init(&la.worker, -1);
    atomic_init(&lb.worker, -1);
    ctp_task_desc d[2];
    ctp_task_desc_init(&d[0], labelled_task, &la);
    d[0].label = "alpha";
    ctp_task_desc_init(&d[1], labelled_task, &lb);
    d[1].label = "beta";
    CHECK_OK(ctp_submit_batch(p, d, 2));
    wait_entered(&g, 2);
    test_sleep_us(2000);
    CHECK_OK(ctp_pool_snapshot(p, info, 2, &count));
    int wa = atomic_load(&la.worker), wb = atomic_load(&lb.worker);
    CHECK(wa >= 0 && wb >= 0 && wa != wb);
    CHECK_EQ(info[wa].state, CTP_WORKER_RUNNING);
    CHECK_EQ(info[wb].state, CTP_WORKER_RUNNING);
    CHECK(info[wa].label != NULL && strcmp(info[wa].label, "alpha") == 0);
    CHECK(info[wb].label != NULL && strcmp(info[wb].label, "beta") == 0);
    CHECK(info[wa].fn == labelled_task);
    if (timed)
        CHECK(info[wa].running_ns >= 2 * MS && info[wb].running_ns >= 2 * MS);
    else
        CHECK(info[wa].running_ns == 0);
    uint64_t executed_before = info[0].executed + info[1].executed;
    gate_open(&g);
    wait_parked(p, 2);
    CHECK(OB_WAIT_UNTIL(ctp_pool_snapshot(p, info, 2, &count) == CTP_OK && info[0].state == CTP_WORKER_PARKED &&
                            info[1].state == CTP_WORKER_PARKED,
                        5000));
    CHECK_EQ(info[0].executed + info[1].executed, executed_before + 2);
    CHECK(info[0].label == NULL && info[1].label == NULL);
    CHECK_OK(ctp_pool_destroy(p));
}

void test_snapshot_during_load(void)
{
    snapshot_under_load(false);
    if (test_failures == 0)
        snapshot_under_load(true);
}

typedef struct nest {
    ctp_pool *pool;
    _Atomic int done;
    const char *seen_inner, *seen_outer_after;
    ctp_worker_state state_inner;
} nest;

static void inner_task(void *arg)
{
    nest *n = arg;
    ctp_worker_info info[4];
    size_t count;
    if (ctp_pool_snapshot(n->pool, info, 4, &count) == CTP_OK) {
        int me = ctp_worker_index();
        n->seen_inner = me >= 0 ? info[me].label : NULL;
        n->state_inner = me >= 0 ? info[me].state : CTP_WORKER_PARKED;
    }
}

static void outer_task(void *arg)
{
    nest *n = arg;
    ctp_group *g;
    if (ctp_group_create(n->pool, &g) != CTP_OK)
        return;
    ctp_task_desc d;
    ctp_task_desc_init(&d, inner_task, n);
    d.label = "inner";
    d.group = g;
    ctp_submit_desc(n->pool, &d);
    ctp_group_wait(g, CTP_WAIT_FOREVER); /* one worker: runs inner here, nested */
    ctp_group_destroy(g);
    ctp_worker_info info[4];
    size_t count;
    if (ctp_pool_snapshot(n->pool, info, 4, &count) == CTP_OK && ctp_worker_index() >= 0)
        n->seen_outer_after = info[ctp_worker_index()].label;
    atomic_store(&n->done, 1);
}

/* A task run nested inside another (a helping wait) shows while it runs,
 * and the outer task shows again after it. */
void test_snapshot_nested_runs(void)
{
    ctp_pool *p = make_pool(1);
    CHECK(p != NULL);
    nest n = { .pool = p };
    atomic_init(&n.done, 0);
    ctp_task_desc d;
    ctp_task_desc_init(&d, outer_task, &n);
    d.label = "outer";
    CHECK_OK(ctp_submit_desc(p, &d)); /* not waited on with a group: this thread must not run it */
    CHECK(OB_WAIT_UNTIL(atomic_load(&n.done), 10000));
    CHECK(n.seen_inner != NULL && strcmp(n.seen_inner, "inner") == 0);
    CHECK_EQ(n.state_inner, CTP_WORKER_RUNNING);
    CHECK(n.seen_outer_after != NULL && strcmp(n.seen_outer_after, "outer") == 0);
    CHECK_OK(ctp_pool_destroy(p));
}

/* ---- Thread hooks ------------------------------------------------------ */

typedef struct hooks {
    _Atomic int started, stopped, wrong_thread;
} hooks;

static void hook_start(int worker, void *ctx)
{
    hooks *h = ctx;
    if (ctp_worker_index() != worker)
        atomic_fetch_add(&h->wrong_thread, 1);
    atomic_fetch_add(&h->started, 1);
}

static void hook_stop(int worker, void *ctx)
{
    hooks *h = ctx;
    if (ctp_worker_index() != worker)
        atomic_fetch_add(&h->wrong_thread, 1);
    atomic_fetch_add(&h->stopped, 1);
}

void test_thread_start_stop_hooks(void)
{
    hooks h;
    atomic_init(&h.started, 0);
    atomic_init(&h.stopped, 0);
    atomic_init(&h.wrong_thread, 0);
    ctp_config c;
    ctp_config_init(&c);
    c.workers = 3;
    c.on_thread_start = hook_start;
    c.on_thread_stop = hook_stop;
    c.thread_ctx = &h;
    ctp_pool *p = NULL;
    CHECK_OK(ctp_pool_create(&c, &p));
    CHECK_EQ(atomic_load(&h.started), 3); /* every start before create returns */
    CHECK_EQ(atomic_load(&h.stopped), 0);
    CHECK_OK(ctp_pool_destroy(p));
    CHECK_EQ(atomic_load(&h.stopped), 3); /* every stop before destroy returns */
    CHECK_EQ(atomic_load(&h.wrong_thread), 0);
}

/* ---- Trace ------------------------------------------------------------- */

/* The checker: valid JSON; per thread, B/E events properly nested (every E
 * closes the innermost open span, nothing left open), timestamps not going
 * backwards; the number of task spans equals the tasks run; the workers'
 * tracks are named. Exit status 0 when all hold. */
static const char trace_checker[] =
    "import json, sys\n"
    "doc = json.load(open(sys.argv[1]))\n"
    "want = int(sys.argv[2]); workers = int(sys.argv[3])\n"
    "ev = doc['traceEvents']\n"
    "stacks = {}; last = {}; tasks = 0; names = set(); labels = set()\n"
    "for e in ev:\n"
    "    ph = e['ph']; tid = e.get('tid')\n"
    "    if ph == 'M':\n"
    "        if e['name'] == 'thread_name': names.add(tid)\n"
    "        continue\n"
    "    ts = float(e['ts'])\n"
    "    assert ts >= last.get(tid, 0.0), ('time goes back', e)\n"
    "    last[tid] = ts\n"
    "    st = stacks.setdefault(tid, [])\n"
    "    if ph == 'B':\n"
    "        st.append(e)\n"
    "        if e['cat'] == 'task': tasks += 1; labels.add(e['name'])\n"
    "    elif ph == 'E':\n"
    "        assert st, ('E without B', tid, e)\n"
    "        st.pop()\n"
    "    else:\n"
    "        assert ph == 'i', e\n"
    "for tid, st in stacks.items(): assert not st, ('left open', tid)\n"
    "assert tasks == want, ('task spans', tasks, 'want', want)\n"
    "for w in range(workers): assert w in names, ('unnamed worker', w)\n"
    "if sys.argv[4] == '1': assert 'leaf' in labels and 'branch' in labels, labels\n"
    "print('trace ok: %d task spans, %d threads' % (tasks, len(stacks)))\n";

typedef struct tree {
    ctp_pool *pool;
    int depth;
    _Atomic long *ran;
} tree;

static void tree_task(void *arg)
{
    tree *t = arg;
    atomic_fetch_add(t->ran, 1);
    if (t->depth == 0)
        return;
    ctp_group *g;
    if (ctp_group_create(t->pool, &g) != CTP_OK)
        return;
    tree kids[2] = { { t->pool, t->depth - 1, t->ran }, { t->pool, t->depth - 1, t->ran } };
    for (int i = 0; i < 2; i++) {
        ctp_task_desc d;
        ctp_task_desc_init(&d, tree_task, &kids[i]);
        d.label = kids[i].depth == 0 ? "leaf" : "branch";
        d.group = g;
        ctp_submit_desc(t->pool, &d);
    }
    ctp_group_wait(g, CTP_WAIT_FOREVER);
    ctp_group_destroy(g);
}

enum { TRACE_PATH_SIZE = 32 };

/* Stops p's trace into a new temporary file whose name goes to path. */
static int stop_to_temp(ctp_pool *p, char path[TRACE_PATH_SIZE])
{
    snprintf(path, TRACE_PATH_SIZE, "/tmp/ctp_trace_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return ctp_trace_stop(p, path);
}

/* A checker's verdict on a trace file: the file is kept for a look when
 * the check failed, removed when it passed. */
static int keep_if_failed(int rc, const char *path)
{
    if (rc != 0)
        fprintf(stderr, "  trace checker failed (%d) on %s\n", rc, path);
    else
        unlink(path);
    return rc;
}

/* Stops p's trace into a temporary file and runs a Python checker on it
 * (the file's path is its argument): the checker's exit status, or -1 if
 * the trace could not be written. */
static int stop_and_check(ctp_pool *p, const char *checker)
{
    char path[TRACE_PATH_SIZE];
    if (stop_to_temp(p, path) != CTP_OK)
        return -1;
    return keep_if_failed(test_run_python(checker, path), path);
}

static int run_checker(const char *json, long want, int workers, int labels)
{
    char args[512];
    snprintf(args, sizeof args, "%s %ld %d %d", json, want, workers, labels);
    return test_run_python(trace_checker, args);
}

/* A traced run of fork-join trees (nested spans on workers, and on this
 * thread while it helps) and outside submissions: the JSON parses, spans
 * nest per thread, and there is one task span per task run. */
void test_trace_json_nested(void)
{
    ctp_pool *p = make_pool(2);
    CHECK(p != NULL);
    CHECK_EQ(ctp_trace_start(NULL, 100), CTP_EINVAL);
    CHECK_EQ(ctp_trace_start(p, 0), CTP_EINVAL);
    CHECK_EQ(ctp_trace_stop(p, "/tmp/x.json"), CTP_EINVAL); /* none running */
    CHECK_OK(ctp_trace_start(p, 1 << 16));
    CHECK_EQ(ctp_trace_start(p, 100), CTP_EINVAL); /* already running */
    _Atomic long ran = 0;
    ctp_group *g;
    CHECK_OK(ctp_group_create(p, &g));
    tree roots[8];
    for (int i = 0; i < 8; i++) {
        roots[i] = (tree){ p, 4, &ran };
        ctp_task_desc d;
        ctp_task_desc_init(&d, tree_task, &roots[i]);
        d.label = "branch";
        d.group = g;
        CHECK_OK(ctp_submit_desc(p, &d));
        if (i % 2 == 1)
            CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER)); /* this thread helps */
    }
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    long total = atomic_load(&ran);
    CHECK_EQ(total, 8 * 31);
    /* A path that cannot be created: refused, and the trace goes on. */
    CHECK_EQ(ctp_trace_stop(p, "/nonexistent-dir/trace.json"), CTP_EINVAL);
    CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, short_task, (void *)&ran));
    wait_parked(p, 2);
    CHECK_EQ(atomic_load(&ran), total + 1);
    char path[TRACE_PATH_SIZE];
    CHECK_OK(stop_to_temp(p, path));
    CHECK_EQ(ctp_trace_stop(p, path), CTP_EINVAL); /* stopped */
    CHECK_EQ(keep_if_failed(run_checker(path, total + 1, 2, 1), path), 0);
    /* Tracing again after a stop works; a pool destroyed while tracing drops it. */
    CHECK_OK(ctp_trace_start(p, 64));
    CHECK_OK(ctp_pool_destroy(p));
}

/* Labels that are not UTF-8 (a lone 0xff, a cut-short sequence, an encoded
 * surrogate) still give a file that parses as JSON; well-formed UTF-8 is
 * kept as it is. The bytes used to be copied raw: json.load failed. */
static const char utf8_checker[] =
    "import json, sys\n"
    "doc = json.loads(open(sys.argv[1], 'rb').read())\n"
    "names = set(e['name'] for e in doc['traceEvents'] if e.get('cat') == 'task')\n"
    "want = {'caf\\u00e9', 'bad\\u00ff', 'cut\\u00c3', 'sur\\u00ed\\u00a0\\u0080'}\n"
    "assert want <= names, (want, names)\n"
    "print('labels ok:', sorted(names))\n";

void test_trace_labels_not_utf8(void)
{
    static const char *labels[] = { "caf\xc3\xa9", "bad\xff", "cut\xc3", "sur\xed\xa0\x80" };
    ctp_pool *p = make_pool(1);
    CHECK(p != NULL);
    CHECK_OK(ctp_trace_start(p, 256));
    ctp_group *g;
    CHECK_OK(ctp_group_create(p, &g));
    _Atomic long ran = 0;
    for (int i = 0; i < 4; i++) {
        ctp_task_desc d;
        ctp_task_desc_init(&d, short_task, (void *)&ran);
        d.label = labels[i];
        d.group = g;
        CHECK_OK(ctp_submit_desc(p, &d));
    }
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(stop_and_check(p, utf8_checker), 0);
    CHECK_OK(ctp_pool_destroy(p));
}

/* A ring smaller than the run: the oldest events fall out, spans whose
 * begin was lost are dropped, and what is written still nests. */
void test_trace_small_ring_still_nests(void)
{
    ctp_pool *p = make_pool(2);
    CHECK(p != NULL);
    CHECK_OK(ctp_trace_start(p, 50));
    _Atomic long ran = 0;
    ctp_group *g;
    CHECK_OK(ctp_group_create(p, &g));
    tree root = { p, 6, &ran };
    ctp_task_desc d;
    ctp_task_desc_init(&d, tree_task, &root);
    d.label = "branch";
    d.group = g;
    CHECK_OK(ctp_submit_desc(p, &d));
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    char path[TRACE_PATH_SIZE];
    CHECK_OK(stop_to_temp(p, path));
    /* Not every task fits: check nesting only (want = spans actually written). */
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    long spans = 0;
    char buf[4096];
    while (fgets(buf, sizeof buf, f) != NULL)
        spans += strstr(buf, "\"cat\":\"task\"") != NULL;
    fclose(f);
    CHECK(spans > 0 && spans < 127);
    int rc = run_checker(path, spans, 2, 0);
    CHECK_EQ(rc, 0);
    unlink(path);
    CHECK_OK(ctp_pool_destroy(p));
}

/* Runs nested deeper than the writer's stack of open spans (256): the
 * begins past it are left out, and so must their ends be. Each end past
 * the stack closed the span below it instead, so the outermost task, which
 * ran 50 ms after its child returned, was written about 200 us long. */
enum { DEEP_NEST = 300 };
typedef struct deep_level {
    ctp_pool *pool;
    int level;
    char label[16];
} deep_level;
static deep_level deep_levels[DEEP_NEST];
static _Atomic int deep_done;

static void deep_task(void *arg)
{
    deep_level *l = arg;
    if (l->level + 1 < DEEP_NEST) {
        ctp_group *g;
        CHECK_OK(ctp_group_create(l->pool, &g));
        ctp_task_desc d;
        ctp_task_desc_init(&d, deep_task, &deep_levels[l->level + 1]);
        d.label = deep_levels[l->level + 1].label;
        d.group = g;
        CHECK_OK(ctp_submit_desc(l->pool, &d));
        CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER)); /* runs it nested */
        CHECK_OK(ctp_group_destroy(g));
    }
    if (l->level == 0) {
        test_sleep_us(50000);
        atomic_store(&deep_done, 1);
    }
}

static const char deep_checker[] =
    "import json, sys\n"
    "doc = json.load(open(sys.argv[1]))\n"
    "spans, stacks = {}, {}\n"
    "for e in doc['traceEvents']:\n"
    "    if e['ph'] not in 'BE': continue\n"
    "    st = stacks.setdefault(e['tid'], [])\n"
    "    if e['ph'] == 'B': st.append(e); continue\n"
    "    b = st.pop()\n"
    "    if b.get('cat') == 'task': spans[b['name']] = (b['ts'], e['ts'])\n"
    "d0, d1 = spans['d0'], spans['d1']\n"
    "print('spans', len(spans), 'd0 %.0f us, d1 ends %.0f us before d0' % (d0[1] - d0[0], d0[1] - d1[1]))\n"
    "assert d0[1] - d0[0] >= 45000 and d0[1] - d1[1] >= 40000\n"
    "assert all(spans['d%d' % i][1] <= spans['d%d' % (i - 1)][1] for i in range(1, 256))\n";

void test_trace_deeper_than_its_stack(void)
{
    ctp_pool *p = make_pool(1);
    CHECK(p != NULL);
    atomic_store(&deep_done, 0);
    for (int i = 0; i < DEEP_NEST; i++) {
        deep_levels[i] = (deep_level){ p, i, { 0 } };
        snprintf(deep_levels[i].label, sizeof deep_levels[i].label, "d%d", i);
    }
    CHECK_OK(ctp_trace_start(p, 4096));
    ctp_group *g;
    CHECK_OK(ctp_group_create(p, &g));
    ctp_task_desc d;
    ctp_task_desc_init(&d, deep_task, &deep_levels[0]);
    d.label = deep_levels[0].label;
    d.group = g;
    CHECK_OK(ctp_submit_desc(p, &d));
    /* Not helping: the whole nest runs on the worker, on one track. */
    while (!atomic_load(&deep_done))
        test_sleep_us(1000);
    CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
    CHECK_OK(ctp_group_destroy(g));
    CHECK_EQ(stop_and_check(p, deep_checker), 0);
    CHECK_OK(ctp_pool_destroy(p));
}

/* A task that stalls, then runs a nested task that stalls too (a helping
 * wait on one worker), then stalls again: one report for each run. */
typedef struct nested_stall {
    ctp_pool *pool;
    _Atomic int done;
} nested_stall;

static void stall_inner(void *arg)
{
    (void)arg;
    test_sleep_us(60000); /* 3 x stall_ns */
}

static void stall_outer(void *arg)
{
    nested_stall *n = arg;
    test_sleep_us(60000);
    ctp_group *g;
    if (ctp_group_create(n->pool, &g) == CTP_OK) {
        ctp_task_desc d;
        ctp_task_desc_init(&d, stall_inner, NULL);
        d.label = "inner";
        d.group = g;
        ctp_submit_desc(n->pool, &d);
        ctp_group_wait(g, CTP_WAIT_FOREVER);
        ctp_group_destroy(g);
    }
    test_sleep_us(60000);
    atomic_store(&n->done, 1);
}

void test_stall_nested_runs_reported_once_each(void)
{
    static stalls s;
    ctp_pool *p = stall_pool(1, 20 * MS, &s);
    CHECK(p != NULL);
    nested_stall n = { .pool = p };
    atomic_init(&n.done, 0);
    ctp_task_desc d;
    ctp_task_desc_init(&d, stall_outer, &n);
    d.label = "outer";
    CHECK_OK(ctp_submit_desc(p, &d));
    CHECK(OB_WAIT_UNTIL(atomic_load(&n.done), 10000));
    test_sleep_us(30000);
    CHECK_OK(ctp_pool_destroy(p));
    int outer = 0, inner = 0;
    for (int i = 0; i < s.n && i < MAX_REPORTS; i++) {
        outer += s.r[i].label != NULL && strcmp(s.r[i].label, "outer") == 0;
        inner += s.r[i].label != NULL && strcmp(s.r[i].label, "inner") == 0;
    }
    CHECK_EQ(stall_count_kind(&s, CTP_STALL_TASK), 2);
    CHECK_EQ(outer, 1);
    CHECK_EQ(inner, 1);
}

/* ---- Pre-wake ----------------------------------------------------------- */

static ctp_pool *prewake_pool(size_t workers, uint64_t lead_ns)
{
    ctp_config c;
    ctp_config_init(&c);
    c.workers = workers;
    c.prewake_lead_ns = lead_ns;
    ctp_pool *p = NULL;
    return ctp_pool_create(&c, &p) == CTP_OK ? p : NULL;
}

static void sleep_until_ns(uint64_t t)
{
    while (test_now_ns() < t)
        test_sleep_us(200);
}

/* Work submitted inside the pre-wake window starts without a wake-up (the
 * workers are searching); with no work they park again by themselves. */
void test_prewake_work_in_window_needs_no_wakeup(void)
{
    ctp_config c;
    ctp_config_init(&c);
    CHECK_EQ(c.prewake_lead_ns, 100000); /* the documented default */
    c.prewake_lead_ns = 0;
    ctp_pool *bad = NULL;
    CHECK_EQ(ctp_pool_create(&c, &bad), CTP_EINVAL);
    CHECK_EQ(ctp_pool_prewake(NULL, 1), CTP_EINVAL);

    ctp_pool *p = prewake_pool(2, 40 * MS); /* a wide window: robust under sanitizers */
    CHECK(p != NULL);
    wait_parked(p, 2);
    ctp_stats st0, st1, st2;
    ctp_pool_stats(p, &st0);
    uint64_t at = test_now_ns() + 60 * MS;
    CHECK_OK(ctp_pool_prewake(p, at));
    sleep_until_ns(at);
    /* Both workers left their park without being woken, and search. */
    ctp_pool_stats(p, &st1);
    CHECK_EQ(st1.wakeups, st0.wakeups);
    CHECK(st1.parked < 2);
    _Atomic long ran = 0;
    CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, short_task, (void *)&ran));
    CHECK(OB_WAIT_UNTIL(atomic_load(&ran) == 1, 5000));
    ctp_pool_stats(p, &st2);
    CHECK_EQ(st2.wakeups, st0.wakeups); /* nobody had to be woken */
    /* After the window they park again, and stay parked. */
    wait_parked(p, 2);
    ctp_pool_stats(p, &st1);
    test_sleep_us(100000);
    ctp_pool_stats(p, &st2);
    CHECK_EQ(st2.parks, st1.parks);
    CHECK_EQ(st2.parked, 2);
    CHECK_OK(ctp_pool_destroy(p));
}

/* Pre-wakes racing parks and submissions: every task runs, nothing is left
 * queued with the workers parked (a lost wake-up would leave one). */
void test_prewake_races_no_lost_wakeups(void)
{
    ctp_pool *p = prewake_pool(3, 200000);
    CHECK(p != NULL);
    _Atomic long ran = 0;
    long rounds = scaled(400), submitted = 0;
    unsigned seed = 12345;
    for (long r = 0; r < rounds; r++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t now = test_now_ns();
        /* A pre-wake in the past, now, or soon; sometimes cancelled. */
        uint64_t at = (seed >> 8) % 4 == 0 ? 0 : now + ((seed >> 12) % 600) * 1000;
        CHECK_OK(ctp_pool_prewake(p, at));
        int n = (int)((seed >> 16) % 4);
        for (int i = 0; i < n; i++) {
            CHECK_OK(ctp_submit(p, CTP_PRIORITY_NORMAL, short_task, (void *)&ran));
            submitted++;
        }
        test_sleep_us((seed >> 20) % 400);
        if (r % 50 == 49) {
            /* Bounded: a lost wake-up leaves tasks queued with workers parked. */
            CHECK(OB_WAIT_UNTIL(atomic_load(&ran) == submitted, 10000));
        }
    }
    CHECK(OB_WAIT_UNTIL(atomic_load(&ran) == submitted, 10000));
    wait_parked(p, 3);
    ctp_stats st;
    ctp_pool_stats(p, &st);
    CHECK_EQ(st.queued, 0);
    CHECK_OK(ctp_pool_destroy(p));
}

/* ---- A trace stopped under a writer that has not yet marked its ring ---- */

typedef struct trace_race {
    pthread_t stopper;     /* the test's main thread: never held in the hook */
    _Atomic int armed;     /* writers still to hold in the hook */
    _Atomic int held;      /* a writer is in the hook, holding a trace pointer */
    _Atomic int released;  /* the trace was stopped (and restarted): go on */
} trace_race;

static void trace_race_hook(ctp_test_hook_point point, void *ctx)
{
    trace_race *r = ctx;
    if (point != CTP_HOOK_TRACE_WRITE || pthread_equal(pthread_self(), r->stopper))
        return;
    int n = atomic_load(&r->armed);
    while (n > 0 && !atomic_compare_exchange_weak(&r->armed, &n, n - 1)) {
    }
    if (n <= 0)
        return;
    atomic_store(&r->held, 1);
    /* Hold the loaded trace pointer until the stopper freed that trace. */
    uint64_t until = test_now_ns() + 5000000000u;
    while (atomic_load(&r->released) == 0 && test_now_ns() < until)
        test_sleep_us(100);
}

typedef struct race_submit {
    ctp_pool *p;
    ctp_group *g;
    int rc;
} race_submit;

static int submit_race_task(ctp_pool *p, ctp_group *g)
{
    ctp_task_desc d;
    ctp_task_desc_init(&d, noop, NULL);
    d.group = g;
    return ctp_submit_desc(p, &d);
}

static void *submit_from_outside(void *arg)
{
    race_submit *s = arg;
    s->rc = submit_race_task(s->p, s->g); /* a SUBMIT event on the shared ring */
    return NULL;
}

static void stop_and_discard(ctp_pool *p)
{
    char path[TRACE_PATH_SIZE];
    CHECK_OK(stop_to_temp(p, path));
    unlink(path);
}

/* A worker (its own ring) and an outside submitter (the shared ring) load
 * the running trace and are held before they write; the trace is stopped,
 * freed, and another started meanwhile. The held writer must then touch
 * neither the freed trace nor its lock (ASan and TSan see it if it does)
 * and the new trace still stops cleanly. */
void test_trace_stop_under_a_held_writer(void)
{
    static trace_race r;
    for (int outside = 0; outside < 2; outside++) {
        memset(&r, 0, sizeof r);
        r.stopper = pthread_self();
        ctp_config c;
        ctp_config_init(&c);
        c.workers = 2;
        ctp_pool *p = NULL;
        CHECK_OK(ctp_test_pool_create_hooked(&c, trace_race_hook, &r, &p));
        ctp_group *g;
        CHECK_OK(ctp_group_create(p, &g));
        CHECK_OK(ctp_trace_start(p, 256));
        atomic_store(&r.armed, 1);
        pthread_t th;
        race_submit s = { p, g, -1 };
        if (outside)
            CHECK_EQ(pthread_create(&th, NULL, submit_from_outside, &s), 0);
        else
            CHECK_OK(submit_race_task(p, g)); /* a worker's BEGIN event */
        CHECK(TEST_WAIT_UNTIL(atomic_load(&r.held) == 1, 5000));
        stop_and_discard(p);
        CHECK_OK(ctp_trace_start(p, 512)); /* a new trace, perhaps at the old address */
        atomic_store(&r.released, 1);
        if (outside) {
            pthread_join(th, NULL);
            CHECK_OK(s.rc);
        }
        CHECK_OK(ctp_group_wait(g, CTP_WAIT_FOREVER));
        CHECK_OK(ctp_group_destroy(g));
        stop_and_discard(p);
        CHECK_OK(ctp_pool_destroy(p));
    }
}
