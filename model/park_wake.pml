/* Promela model of ctp's park/wake protocol (Sources/CThreadPool/sleep.c:
 * start_looking, found_work, found_none, new_work and wake map onto the
 * inlines and labels below) and of shutdown (pool.c). See docs/scheduler.md.
 *
 * Checked by spin in the test command (scripts/test.sh):
 *   1. No stranded task: in any state where nothing can move (submitters
 *      done or stalled, every worker blocked in its park or inside a task
 *      that never returns), no task is queued while a worker is blocked in
 *      its park, whether parked or already counted as woken.
 *   2. Shutdown terminates: unless a task never returns, such a final state
 *      has every worker exited and the pool stopped; spin also reports any
 *      other deadlock (invalid end state).
 * A blocked worker's wait may also end by itself (TIMEOUTS times in all):
 * a timed park running out, which is how the backoff, the idle trim's delay
 * and a pre-wake (ctp_pool_prewake: workers leave their park a lead before
 * expected work) end a park. The worker then leaves the park unnotified,
 * moves itself back to searching and searches again.
 * A waker may stop for good after any signal of a wake but its first (as
 * when the worker it signalled takes its CPU and keeps it), and may leave
 * any signal but its first owed and go on (as a waker does with a worker per
 * CPU for the last of its signals: policy.defer_last in
 * sleep.c; the worker it woke sends them): the condition
 * variable is modelled as a `signalled` flag a blocked worker waits for, and
 * a signal sent while the worker is not blocked is lost, as with a real
 * condition variable.
 * With NODES (two workers, worker i the only worker of node i; the test
 * command runs it with two outside tasks) every task is affine to a node:
 * an outside task to either, a task's own push to its worker's node. The
 * grace period for another node's work (ctp_config.remote_steal_delay_ns;
 * scheduler.c, find_remote and ctp__has_work_for) is modelled: a worker in
 * its grace (from its first search after a run) leaves the other node's
 * tasks; the grace may end at any look while the other node has work; the
 * park's re-check (the work_for op) counts only work the worker may take
 * now, and other-node work it must leave makes the park a timed one that
 * runs out when the grace ends (always possible, not counted in TIMEOUTS:
 * that deadline always comes), and first wakes that node's parked worker
 * (found_none's home_only wake). Wakes for a node's task take that node's
 * parked worker first; a single task wakes nobody while any worker
 * searches, except that an outside task may wake its node's parked worker
 * (home_only; sleep.c does when a searcher is there).
 * Promela runs interleavings under sequential consistency; the C code gets
 * the same orderings from its seq_cst fences (see the comments there).
 *
 * Build-time switches, each a deliberate bug the check must catch
 * (scripts/test.sh runs them and expects spin to fail):
 *   NO_RECHECK     the worker parks without looking at the queues again
 *   NO_HANDOFF     the last searcher leaves without checking for work
 *   NO_PASS_ON     a woken worker does not send the signals its waker still owes
 *   TIMEOUT_IGNORES_NOTIFY  (with TIMEOUTS) a worker whose timed park ran out
 *                  leaves as if unnotified even when a waker had just taken it
 *                  off the idle stack and counted it searching
 *   NO_DEFER_TIMEOUT  (with NODES) the park's re-check ignores the other
 *                  node's work it must leave, and the park is not bounded by
 *                  the grace's end (the grace is spent blocked, for good)
 *   NODE_ONLY_WAKE (with NODES) a wake for a node's task wakes only that
 *                  node's parked workers, none when they are all busy
 */

#ifndef W
#define W 2              /* workers */
#endif
#ifndef EXTERNAL
#define EXTERNAL 3       /* tasks submitted from outside */
#endif
#ifndef SPAWN
#define SPAWN 1          /* tasks that running tasks may submit */
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 0       /* timed parks that run out (backoff, trim, pre-wake); a separate check sets it */
#endif

byte q = 0;              /* tasks queued anywhere (deques + injector) */
byte done = 0;           /* tasks finished */
byte submitted = 0;      /* external tasks submitted */
byte spawned = 0;        /* tasks submitted by running tasks */
byte searching = 0;      /* counts: searching half */
byte parked = 0;         /* counts: parked half (== number of on_idle) */
bool on_idle[W];
bool notified[W];
bool owed[W];            /* notified, signal not yet sent */
byte owedc = 0;          /* sleep.owed: number of owed signals */
bool signalled[W];       /* the condition variable: a signal is pending */
byte blocked = 0;        /* workers blocked in cond_wait */
byte stalls = 0;         /* wakers that stopped for good between signals */
bool lock = false;       /* the sleep mutex */
bool exiting = false;
bool stopped = false;
byte exited = 0;
byte stuck = 0;          /* workers inside a task that never returns */
byte timeouts = 0;       /* timed parks that ran out so far */
#ifdef NODES
/* W must be 2: worker i is node i's only worker. Of the q queued tasks,
 * qa[i] are affine to node i (its injection queue or a deque of node i's
 * worker); the rest have no node. */
byte qa[W];
bool grace[W];           /* worker i is in its grace: leaves node 1-i's affine tasks */
#define LOCALQ(i) (q - qa[0] - qa[1] + qa[i])   /* tasks worker i may take at once */
#endif

inline acquire() { atomic { !lock -> lock = true } }
inline release() { lock = false }

/* send(i): whoever claims an owed signal sends it. */
inline send(i) {
    atomic {
        if
        :: owed[i] -> owed[i] = false; owedc--; signalled[i] = true
        :: else -> skip
        fi
    }
}

/* A waker may stop for good here, between two of its signals. */
inline maybe_stall() {
    if
    :: sent > 0 && stalls == 0 ->
        atomic { stalls == 0 -> stalls++ };
end_stalled:
        (false)
    :: skip
    fi
}

/* wake(n, node): pop up to n parked workers (node's first; node W: any) and
 * count them searching, owe each a signal (all under the lock), then send
 * them, starting at any of them. */
inline wake(n, node) {
    byte k = 0;
    byte i;
    byte mine = 0;
    byte sent = 0;
    byte first;
    acquire();
    atomic {
        /* node-directed: the node's own parked worker first */
        if
        :: node < W && on_idle[node % W] ->   /* (% W: node is < W here) */
            on_idle[node % W] = false; notified[node % W] = true;
            owed[node % W] = true; owedc++;
            parked--; searching++; k++;
            mine = mine | (1 << node)
        :: else -> skip
        fi;
#ifdef NODE_ONLY_WAKE
        if
        :: node < W -> k = W   /* no more pops */
        :: else -> skip
        fi;
#endif
        for (i : 0 .. W - 1) {
            if
            :: k < n && on_idle[i] ->
                on_idle[i] = false; notified[i] = true;
                owed[i] = true; owedc++;
                parked--; searching++; k++;
                mine = mine | (1 << i)
            :: else -> skip
            fi
        };
        i = 0
    };
    release();
    select(first : 0 .. W - 1);
    for (i : 0 .. W - 1) {
        if
        :: (mine & (1 << ((first + i) % W))) != 0 ->
            maybe_stall();
            if
            :: send((first + i) % W); sent++
            :: sent > 0 -> skip /* left owed (policy.defer_last): the woken worker sends it */
            fi
        :: else -> skip
        fi
    }
    atomic { k = 0; mine = 0; sent = 0; first = 0; i = 0 }
}

#ifdef NODES
/* wake(1, node) with home_only (found_none, a worker parking that leaves
 * node's work): that node's parked worker or nobody. One signal, so no
 * waker stalls between signals and none is left owed. hw: the worker's. */
inline wake_home(node) {
    acquire();
    atomic {
        if
        :: on_idle[node] ->
            on_idle[node] = false; notified[node] = true;
            owed[node] = true; owedc++;
            parked--; searching++; hw = true
        :: else -> skip
        fi
    };
    release();
    atomic {
        if
        :: hw -> send(node); hw = false
        :: else -> skip
        fi
    }
}
#endif

/* ctp__sleep_new_work after publishing `tasks` tasks for `node` (W: none):
 * the fence, then one read of counts (atomic), then the decision. A single
 * task wakes nobody while anyone searches (but see the submitter, NODES). */
inline notify(tasks, node) {
    byte s_, p_;
    atomic { s_ = searching; p_ = parked }
    if
    :: p_ > 0 && tasks == 1 && s_ == 0 -> wake(1, node)
    :: p_ > 0 && tasks > 1 -> wake(tasks, node)
    :: p_ > 0 && tasks > 1 -> wake(1, node)  /* a batch for one node whose workers are busy */
    :: else -> skip
    fi;
    s_ = 0; p_ = 0
}

/* found_work (sleep.c): leave searching; the last searcher hands on. */
inline end_search() {
    byte prev;
    atomic { prev = searching; searching-- }
#ifndef NO_HANDOFF
    if
    :: prev == 1 && parked > 0 && q > 0 -> notify(1, W)
    :: else -> skip
    fi;
#endif
    prev = 0
}

/* A task's own pushes go to its worker's deque: with NODES, affine to the
 * worker's node (another node's worker steals them only after its grace). */
#ifdef NODES
#define ADD_AFFINE(i) qa[i]++
#define NODE_OF(i) i
#else
#define ADD_AFFINE(i) skip
#define NODE_OF(i) W
#endif

/* One search for a task (ctp__find_task), one atomic step; sets got. */
#ifdef NODES
inline take(id) {
    atomic {
        /* in find_task's order: its node's, the node-less, then (after
         * the grace) the other node's */
        if
        :: qa[id] > 0 -> qa[id]--; q--; got = true
        :: else ->
            if
            :: q - qa[0] - qa[1] > 0 -> q--; got = true
            :: else ->
                if
                :: !grace[id] && qa[1 - id] > 0 -> qa[1 - id]--; q--; got = true
                :: else -> got = false
                fi
            fi
        fi;
        if
        :: got -> grace[id] = true  /* a run begins: the next search restarts the clock */
        :: else -> skip
        fi
    }
}
#else
inline take(id) {
    atomic {
        if
        :: q > 0 -> q--; got = true
        :: else -> got = false
        fi
    }
}
#endif

proctype worker(byte id) {
    bool srch = false;
    bool got;
    bool skip_block;
    bool pass_on = false;
    bool tmo = false;        /* the timed wait ran out */
    bool deferred = false;   /* NODES: the park is bounded by the grace's end */
    bool hw = false;         /* NODES: wake_home popped the other node's worker */
    byte j;
top:
    /* ctp__find_task */
    take(id);
    if
    :: got ->
        got = false;
        if
        :: srch -> end_search(); srch = false
        :: else -> skip
        fi;
        /* run the task: one task in the run may never return (a long
         * task), so the others must not count on this worker */
        if
        :: atomic { stuck == 0 && W > 1 -> stuck++ };
end_long_task:
            (false)
        :: skip
        fi;
        /* it may submit one more (worker-local push: submit_local), with
         * the wake decision of any submission (the code's push behind
         * queued work no longer skips it, docs/scheduler.md "Pushing
         * behind work") */
        if
        :: atomic { spawned < SPAWN -> spawned++; q++; ADD_AFFINE(id) }; notify(1, NODE_OF(id))
        :: skip
        fi;
        done++;
        goto top
    :: else -> skip
    fi;
    if
    :: !srch -> searching++; srch = true
    :: else -> skip
    fi;
#ifdef NODES
    /* time passes: the grace may have ended by this look (it matters only
     * while the other node has work) */
    if
    :: grace[id] && qa[1 - id] > 0 -> grace[id] = false
    :: skip
    fi;
#endif
    /* spin phase: any number of extra sweeps */
    if
    :: goto top_search
    :: skip
    fi;
    goto park;
top_search:
    take(id);
    if
    :: got -> got = false; end_search(); srch = false; done++; goto top
    :: else -> goto park
    fi;
park:
    if
    :: exiting -> end_search(); srch = false; goto out
    :: else -> skip
    fi;
    /* 1. announce: searching -> parked */
    acquire();
    on_idle[id] = true; parked++; searching--;
    release();
    /* 2. fence, re-check */
#ifdef NO_RECHECK
    skip_block = exiting;
#elif defined(NODES)
    /* work_for: only what it may take now; the other node's that it must
     * leave bounds the park by the grace's end */
    atomic {
        skip_block = (LOCALQ(id) > 0 || (!grace[id] && qa[1 - id] > 0) || exiting);
#ifndef NO_DEFER_TIMEOUT
        deferred = (grace[id] && qa[1 - id] > 0)
#endif
    }
#else
    skip_block = (q > 0 || exiting);
#endif
#ifdef NODES
    /* work it leaves for the other node: wake that node's parked worker
     * (found_none's wake(.., home_only), once per node it leaves work for:
     * with two nodes, the other one); it only adds a wake */
    if
    :: !skip_block && deferred -> wake_home(1 - id)
    :: else -> skip
    fi;
#endif
    /* 3. block on the condition variable: cond_wait unlocks and waits in
     * one step; a signal sent before that is lost. */
    acquire();
    do
    :: !skip_block && !notified[id] && !exiting ->
        atomic { signalled[id] = false; blocked++; release() };
end_parked:
        if
        :: atomic { (signalled[id] || exiting) -> blocked-- };
            acquire()
        :: atomic { timeouts < TIMEOUTS -> timeouts++; blocked-- };
            acquire();
            tmo = true;
            break     /* the timed wait ran out: leave (notified or not) */
#ifdef NODES
        :: atomic { deferred -> blocked--; grace[id] = false };
            acquire();
            tmo = true;
            break     /* the grace ended: its deadline */
#endif
        fi
    :: else -> break
    od;
    skip_block = false;
    deferred = false;
    /* 4. leave */
    if
#ifdef TIMEOUT_IGNORES_NOTIFY
    :: notified[id] && !tmo ->
#else
    :: notified[id] ->
#endif
        notified[id] = false;
        atomic {    /* the exchange on our own owed flag */
            if
            :: owed[id] -> owed[id] = false; owedc--
            :: else -> skip
            fi
        };
        pass_on = (owedc > 0)
    :: else -> notified[id] = false; on_idle[id] = false; parked--; searching++
    fi;
    tmo = false;
    release();
    /* 5. send the signals our waker still owes */
#ifndef NO_PASS_ON
    if
    :: pass_on ->
        atomic { for (j : 0 .. W - 1) { send(j) }; j = 0 }
    :: else -> skip
    fi;
#endif
    pass_on = false;
    srch = true;
    goto top;
out:
    exited++
}

proctype submitter() {
#ifdef NODES
    byte node;
    bool hw = false; /* wake_home popped that node's worker */
#endif
    do
#ifdef NODES
    :: submitted < EXTERNAL ->
        atomic {
            select(node : 0 .. W - 1);  /* node-less tasks: the check without NODES */
            q++; submitted++; qa[node]++
        };
        notify(1, node);
        /* With a grace period sleep.c also wakes one of the task's node's
         * parked workers when a searcher made the rule above wake nobody:
         * here, maybe (a superset: at any time after the publish). */
        if
        :: wake_home(node)
        :: skip
        fi;
        node = 0
    :: submitted + 2 <= EXTERNAL ->
        atomic {
            select(node : 0 .. W - 1);
            q = q + 2; submitted = submitted + 2; qa[node] = qa[node] + 2
        };
        notify(2, node);
        node = 0
#else
    :: submitted < EXTERNAL -> atomic { q++; submitted++ }; notify(1, W)
    :: submitted + 2 <= EXTERNAL -> atomic { q = q + 2; submitted = submitted + 2 }; notify(2, W)
#endif
    :: submitted == EXTERNAL -> break
    od
}

/* ctp_pool_shutdown: wait for quiescence, then stop and join. */
proctype shutdown() {
end_wait_quiescent:
    (submitted == EXTERNAL && done == submitted + spawned);
    exiting = true;        /* then wake_all under the lock: the guard sees it */
end_join:
    (exited == W);
    stopped = true
}

/* Runs only when nothing else can move. The end labels above mark where a
 * process may rest in such a state; these assertions say which rests are
 * acceptable. */
proctype checker() {
    timeout ->
    /* no task queued while a worker sleeps, parked or woken but unsignalled */
    assert(q == 0 || (parked == 0 && blocked == 0));
    /* unless a task never returns or a waker stopped, shutdown completed */
    assert(stuck > 0 || stalls > 0 || (stopped && exited == W))
}

init {
    byte i;
    atomic {
#ifdef NODES
        /* a new worker's clock starts at its first search: in its grace */
        for (i : 0 .. W - 1) { grace[i] = true };
#endif
        for (i : 0 .. W - 1) { run worker(i) }
        run submitter();
        run shutdown();
        run checker()
    }
}
