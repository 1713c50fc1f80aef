/* Tick scopes (issue 15): the report counts every task once, a budget
 * overrun fires once, and the report agrees with a trace of the same tick. */
#include "harness.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define MS ((uint64_t)1000000u)

static void burn_us(unsigned us)
{
    uint64_t end = test_now_ns() + (uint64_t)us * 1000u;
    while (test_now_ns() < end)
        ;
}

typedef struct spawner {
    ctp_group *g;
    ctp_pool *pool;
    _Atomic long ran;
} spawner;

static void leaf(void *arg)
{
    atomic_fetch_add(&((spawner *)arg)->ran, 1);
}

static void long_leaf(void *arg)
{
    burn_us(30000); /* far longer than a short task that lost its CPU for a while */
    atomic_fetch_add(&((spawner *)arg)->ran, 1);
}

/* Submits 4 leaves into the tick from a worker (its own deque). */
static void spawn(void *arg)
{
    spawner *s = arg;
    atomic_fetch_add(&s->ran, 1);
    for (int i = 0; i < 4; i++) {
        ctp_task_desc d;
        ctp_task_desc_init(&d, leaf, s);
        d.group = s->g;
        d.label = "leaf";
        ctp_submit_desc(s->pool, &d);
    }
}

void test_tick_report_counts_every_task_once(void)
{
    ctp_pool *p = make_pool(2);
    CHECK(p != NULL);
    CHECK_EQ(ctp_tick_begin(NULL, NULL, NULL), CTP_EINVAL);
    ctp_tick_options bad = { .on_overrun = (ctp_overrun_fn)1 };
    ctp_tick *t = NULL;
    CHECK_EQ(ctp_tick_begin(p, &bad, &t), CTP_EINVAL);
    CHECK(ctp_tick_group(NULL) == NULL);
    CHECK_EQ(ctp_tick_end(NULL, 0, NULL, NULL, 0), CTP_EINVAL);
    for (int round = 0; round < 8; round++) {
        ctp_tick_options o = { .report = true };
        CHECK_OK(ctp_tick_begin(p, &o, &t));
        spawner s = { .g = ctp_tick_group(t), .pool = p };
        atomic_init(&s.ran, 0);
        /* 100 spawners (each 4 leaves) and one long task, as one batch. */
        ctp_task_desc d[101];
        for (int i = 0; i < 100; i++) {
            ctp_task_desc_init(&d[i], spawn, &s);
            d[i].group = s.g;
            d[i].label = "spawn";
        }
        ctp_task_desc_init(&d[100], long_leaf, &s);
        d[100].group = s.g;
        d[100].label = "the long one";
        CHECK_OK(ctp_submit_batch(p, d, 101));
        ctp_tick_report r;
        ctp_tick_thread_report w[4];
        memset(w, 0xff, sizeof w);
        CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, w, 4));
        long total = 100 + 400 + 1;
        CHECK_EQ(atomic_load(&s.ran), total);
        CHECK_EQ(r.tasks, total);
        CHECK_EQ(r.workers, 2);
        CHECK_EQ(w[0].tasks + w[1].tasks + r.outside.tasks, total);
        CHECK_EQ(w[2].tasks, (uint64_t)-1); /* beyond the workers: untouched */
        if (r.longest_label == NULL || strcmp(r.longest_label, "the long one") != 0)
            fprintf(stderr, "  longest: %s %llu ns\n", r.longest_label ? r.longest_label : "(null)", (unsigned long long)r.longest_ns);
        CHECK(r.longest_label != NULL && strcmp(r.longest_label, "the long one") == 0);
        CHECK(r.longest_fn == long_leaf);
        CHECK(r.longest_ns >= 30 * MS);
        CHECK(r.task_ns >= r.longest_ns);
        CHECK(r.wall_ns >= r.longest_ns);
        CHECK(r.wait_p50_ns <= r.wait_p99_ns && r.wait_p99_ns <= r.wait_max_ns);
        CHECK(r.first_start_ns <= r.wall_ns);
        for (int i = 0; i < 2; i++)
            CHECK(w[i].busy_ns + w[i].waking_ns + w[i].idle_ns <= r.wall_ns);
        CHECK_EQ(r.budget_ns, 0);
        CHECK(!r.overran);
    }
    /* Without report or budget, nothing is recorded (and nothing costs). */
    CHECK_OK(ctp_tick_begin(p, NULL, &t));
    spawner s = { .g = ctp_tick_group(t), .pool = p };
    atomic_init(&s.ran, 0);
    CHECK_OK(ctp_group_submit(s.g, CTP_PRIORITY_NORMAL, leaf, &s));
    ctp_tick_report r;
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 0));
    CHECK_EQ(atomic_load(&s.ran), 1);
    CHECK_EQ(r.tasks, 0);
    CHECK(r.wall_ns > 0);
    CHECK_OK(ctp_pool_destroy(p));
}

typedef struct overruns {
    _Atomic int fired;
    _Atomic int task_done_when_fired; /* the callback ran while the work still ran */
    _Atomic int task_done;
    _Atomic(ctp_tick *) tick;
    _Atomic uint64_t elapsed;
} overruns;

static void on_overrun(ctp_tick *tick, uint64_t elapsed_ns, void *ctx)
{
    overruns *o = ctx;
    (void)tick;
    atomic_fetch_add(&o->fired, 1);
    atomic_store(&o->tick, tick); /* compared by the test after the tick ended */
    atomic_store(&o->elapsed, elapsed_ns);
    atomic_store(&o->task_done_when_fired, atomic_load(&o->task_done));
}

static void slow_task(void *arg)
{
    overruns *o = arg;
    test_sleep_us(100000); /* 5 x the budget */
    atomic_store(&o->task_done, 1);
}

void test_tick_budget_overrun_fires_once(void)
{
    ctp_pool *p = make_pool(2); /* no stall detection: the tick starts the monitor */
    CHECK(p != NULL);
    for (int round = 0; round < 3; round++) {
        overruns o;
        memset(&o, 0, sizeof o);
        ctp_tick_options opt = { .report = true, .budget_ns = 20 * MS, .on_overrun = on_overrun, .overrun_ctx = &o };
        ctp_tick *t;
        CHECK_OK(ctp_tick_begin(p, &opt, &t));
        CHECK_OK(ctp_group_submit(ctp_tick_group(t), CTP_PRIORITY_NORMAL, slow_task, &o));
        ctp_tick_report r;
        CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 0));
        CHECK_EQ(atomic_load(&o.fired), 1);
        CHECK(atomic_load(&o.tick) == t); /* the callback got this tick */
        CHECK_EQ(atomic_load(&o.task_done_when_fired), 0); /* not blocked by the overrunning work */
        CHECK(atomic_load(&o.elapsed) >= 20 * MS);
        CHECK(r.overran);
        CHECK_EQ(r.budget_ns, 20 * MS);
        CHECK_EQ(r.finished_past_budget, 1);
        CHECK_EQ(r.started_past_budget, 0);
    }
    /* A tick inside its budget: no callback. */
    overruns o;
    memset(&o, 0, sizeof o);
    ctp_tick_options opt = { .budget_ns = 5000 * MS, .on_overrun = on_overrun, .overrun_ctx = &o };
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(p, &opt, &t));
    spawner s = { .g = ctp_tick_group(t), .pool = p };
    atomic_init(&s.ran, 0);
    CHECK_OK(ctp_group_submit(s.g, CTP_PRIORITY_NORMAL, leaf, &s));
    ctp_tick_report r;
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 0));
    CHECK_EQ(atomic_load(&o.fired), 0);
    CHECK(!r.overran);
    CHECK_EQ(r.tasks, 1); /* a budget records, report or not */
    CHECK_OK(ctp_pool_destroy(p));
}

/* ctp_tick_end with a timeout: the tick stays open and can be ended later. */
void test_tick_end_timeout_keeps_tick(void)
{
    ctp_pool *p = make_pool(1);
    CHECK(p != NULL);
    ctp_tick_options o = { .report = true };
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(p, &o, &t));
    gate g;
    gate_init(&g);
    CHECK_OK(ctp_group_submit(ctp_tick_group(t), CTP_PRIORITY_NORMAL, gate_task, &g));
    wait_entered(&g, 1);
    ctp_tick_report r;
    CHECK_EQ(ctp_tick_end(t, 5 * MS, &r, NULL, 0), CTP_ETIMEDOUT);
    gate_open(&g);
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, NULL, 0));
    CHECK_EQ(r.tasks, 1);
    CHECK_OK(ctp_pool_destroy(p));
}

/* The report and a trace of the same scripted tick agree: per thread, the
 * busy time within 5% and the task counts equal (python3 reads the trace). */
static const char agree_checker[] =
    "import json, sys\n"
    "doc = json.load(open(sys.argv[1]))\n"
    "want = {}\n"
    "for a in sys.argv[2:]:\n"
    "    tid, busy, tasks = a.split(':'); want[tid] = (int(busy), int(tasks))\n"
    "stacks = {}; busy = {}; tasks = {}\n"
    "for e in doc['traceEvents']:\n"
    "    if e['ph'] not in ('B', 'E'): continue\n"
    "    tid = e['tid']; key = 'outside' if tid >= 1000000 else str(tid)\n"
    "    st = stacks.setdefault(key, [])\n"
    "    if e['ph'] == 'B':\n"
    "        st.append(e)\n"
    "        if e['cat'] == 'task': tasks[key] = tasks.get(key, 0) + 1\n"
    "    else:\n"
    "        b = st.pop()\n"
    "        if b['cat'] == 'task' and not any(x['cat'] == 'task' for x in st):\n"
    "            busy[key] = busy.get(key, 0) + (float(e['ts']) - float(b['ts'])) * 1000\n"
    "ok = True\n"
    "for key, (wb, wt) in want.items():\n"
    "    tb, tt = busy.get(key, 0), tasks.get(key, 0)\n"
    "    good = tt == wt and abs(tb - wb) <= 0.05 * max(wb, 1) + 2000\n"
    "    print('%s: report busy %d tasks %d, trace busy %d tasks %d %s' % (key, wb, wt, tb, tt, 'ok' if good else 'MISMATCH'))\n"
    "    ok = ok and good\n"
    "sys.exit(0 if ok else 1)\n";

static void burn_task(void *arg)
{
    burn_us((unsigned)(uintptr_t)arg);
}

void test_tick_report_agrees_with_trace(void)
{
    ctp_pool *p = make_pool(2);
    CHECK(p != NULL);
    CHECK_OK(ctp_trace_start(p, 1 << 14));
    ctp_tick_options o = { .report = true };
    ctp_tick *t;
    CHECK_OK(ctp_tick_begin(p, &o, &t));
    ctp_task_desc d[40];
    for (int i = 0; i < 40; i++) {
        ctp_task_desc_init(&d[i], burn_task, (void *)(uintptr_t)(200 + 20 * (i % 7)));
        d[i].group = ctp_tick_group(t);
        d[i].label = "scripted";
    }
    CHECK_OK(ctp_submit_batch(p, d, 40));
    ctp_tick_report r;
    ctp_tick_thread_report w[2];
    CHECK_OK(ctp_tick_end(t, CTP_WAIT_FOREVER, &r, w, 2));
    char path[] = "/tmp/ctp_tick_trace_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_OK(ctp_trace_stop(p, path));
    CHECK_EQ(r.tasks, 40);
    char script[] = "/tmp/ctp_tick_check_XXXXXX";
    fd = mkstemp(script);
    CHECK(fd >= 0);
    CHECK(write(fd, agree_checker, sizeof agree_checker - 1) == (ssize_t)(sizeof agree_checker - 1));
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 %s %s 0:%llu:%llu 1:%llu:%llu outside:%llu:%llu 1>&2", script, path,
             (unsigned long long)w[0].busy_ns, (unsigned long long)w[0].tasks, (unsigned long long)w[1].busy_ns,
             (unsigned long long)w[1].tasks, (unsigned long long)r.outside.busy_ns,
             (unsigned long long)r.outside.tasks);
    int rc = system(cmd);
    unlink(script);
    if (rc == 0)
        unlink(path);
    CHECK_EQ(rc, 0);
    CHECK_OK(ctp_pool_destroy(p));
}
