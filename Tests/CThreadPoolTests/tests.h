/* The test registry: every test is declared here and listed in all_tests. */
#ifndef CTP_TESTS_H
#define CTP_TESTS_H

struct test_case {
    const char *name;
    void (*fn)(void);
};

#define TESTS(X)                                                                                   \
    X(api_bad_input)                                                                               \
    X(deque_order_single_thread)                                                                   \
    X(deque_owner_against_thieves)                                                                 \
    X(deque_growth_under_steals)                                                                   \
    X(deque_stale_top_reloads_before_growing)                                                      \
    X(latch_wakes_every_blocker)                                                                   \
    X(latch_subscriber_never_missed)                                                               \
    X(notify_latch_rechecks_zero) X(notify_latch_races_count_down) X(notify_fires_once_where_documented) X(notify_races_last_count_down) X(notify_fires_on_cancel) X(notify_destroy_rules) X(notify_new_round_from_destroy_keeps_group) X(notify_submission_survives_drain) \
    X(api_config_validation)                                                                       \
    X(api_strerror_and_index)                                                                      \
    X(api_thread_names_cut_at_characters)                                                          \
    X(submit_runs_every_task_once)                                                                 \
    X(batch_all_or_none)                                                                           \
    X(batch_large_runs_while_queued)                                                               \
    X(batch_large_races_shutdown)                                                                  \
    X(batch_shutdown_between_chunks)                                                               \
    X(submit_inline_payload)                                                                       \
    X(submit_batch_inline)                                                                         \
    X(pool_help_runs_one_task)                                                                     \
    X(pool_destroy_refused_while_group_or_tick_lives)                                              \
    X(bounded_queue_full_and_inside_never_refused)                                                 \
    X(bounded_queue_parallel_for_takes_the_room_left)                                              \
    X(priority_critical_runs_next)                                                                 \
    X(priority_order_on_one_worker)                                                                \
    X(group_wait_timeout_and_destroy_pending)                                                      \
    X(nested_fork_join_one_worker)                                                                 \
    X(fib32_group_per_call_from_worker)                                                            \
    X(fib32_group_per_call_from_outside)                                                           \
    X(outside_helper_at_depth_cap_runs_own_children)                                               \
    X(parallel_for_covers_range_once)                                                              \
    X(backoff_interrupted_by_submit)                                                               \
    X(parked_pool_makes_no_wakeups)                                                                \
    X(single_submit_wakes_one_worker)                                                              \
    X(batch_wakes_up_to_fanout)                                                                    \
    X(sleep_fake_queue_no_lost_wakeups)                                                            \
    X(sleep_wake_survives_stalled_waker)                                                           \
    X(sleep_wake_leaves_last_signal_to_woken)                                                      \
    X(batch_after_park_reaches_every_worker)                                                       \
    X(woken_worker_runs_off_the_wakers_cpu)                                                        \
    X(batch_take_wakes_for_the_rest)                                                               \
    X(deep_waiter_does_not_absorb_wakes)                                                           \
    X(deep_waiter_runs_its_groups_queued_tasks)                                                    \
    X(queue_capacity_holds_across_nodes)                                                           \
    X(queue_capacity_refusal_never_refuses_a_fit)                                                  \
    X(timed_wait_starts_no_task_past_deadline)                                                     \
    X(fault_injection_create)                                                                      \
    X(fault_injection_submit_and_groups)                                                           \
    X(worker_exit_inside_task_is_reported)                                                         \
    X(worker_lost_counts_by_what_it_ran)                                                           \
    X(parallel_for_caller_exits_inside)                                                            \
    X(pending_cancel_acts_only_inside_a_task)                                                      \
    X(fork_in_task_child_is_no_worker) X(fork_child_refuses_inherited_pool)                                                           \
    X(fork_while_a_pool_is_created)                                                                \
    X(pinned_queue_of_another_pool_inside_a_helped_task)                                           \
    X(burst_memory_is_returned)                                                                    \
    X(burst_memory_two_nodes)                                                                      \
    X(grown_deque_pages_returned_when_idle)                                                        \
    X(shutdown_drain_runs_spawned_tasks)                                                           \
    X(shutdown_cancel_calls_on_cancel)                                                             \
    X(shutdown_timeout_keeps_pool_valid)                                                           \
    X(shutdown_not_held_by_spinning_worker)                                                        \
    X(shutdown_and_destroy_from_worker)                                                            \
    X(shutdown_and_destroy_from_another_pools_task_inside)                                         \
    X(group_wait_on_own_group_is_edeadlk)                                                          \
    X(group_wait_on_own_group_deeply_nested)                                                       \
    X(create_destroy_cycles_leave_nothing)                                                         \
    X(exactly_once_external_and_nested)                                                            \
    X(lost_wakeup_torture)                                                                         \
    X(race_windows_random_delays)                                                                  \
    X(drain_and_cancel_under_load)                                                                 \
    X(numa_bad_topologies)                                                                         \
    X(numa_placement)                                                                              \
    X(numa_affinity_pins_to_node)                                                                  \
    X(numa_affine_tasks_run_on_their_node)                                                         \
    X(numa_node_stats_leave_out_dropped)                                                           \
    X(numa_remote_fallback_when_node_blocked)                                                      \
    X(numa_outside_helper_takes_own_node_first)                                                    \
    X(numa_remote_critical_before_own_backlog)                                                     \
    X(numa_remote_critical_in_a_deque_before_own_backlog)                                          \
    X(numa_single_task_wakes_its_node_past_a_spinner)                                              \
    X(numa_deque_work_not_held_by_a_trickle)                                                       \
    X(numa_remote_steal_delay)                                                                     \
    X(numa_fresh_worker_keeps_the_grace)                                                           \
    X(numa_grace_parks_instead_of_spinning)                                                        \
    X(numa_deferred_task_wakes_its_node)                                                           \
    X(numa_remote_grace_wakes_every_node)                                                          \
    X(numa_task_memory_stays_home)                                                                 \
    X(stall_task_reported_once)                                                                 \
    X(stall_task_waiting_in_group_reported)                                                     \
    X(stall_report_counts_queued_once)                                                          \
    X(stall_queue_all_workers_blocked)                                                          \
    X(stall_no_report_for_short_tasks)                                                          \
    X(stall_monitor_sleeps_while_idle)                                                          \
    X(stall_line_escapes_label_and_name)                                                        \
    X(stall_default_line_on_stderr)                                                             \
    X(stall_config_validation)                                                                  \
    X(snapshot_during_load)                                                                     \
    X(snapshot_nested_runs)                                                                     \
    X(thread_start_stop_hooks)                                                                  \
    X(trace_json_nested)                                                                        \
    X(trace_labels_not_utf8)                                                                    \
    X(trace_small_ring_still_nests)                                                             \
    X(trace_deeper_than_its_stack)                                                              \
    X(trace_stop_under_a_held_writer)                                                           \
    X(stall_nested_runs_reported_once_each)                                                     \
    X(prewake_work_in_window_needs_no_wakeup)                                                   \
    X(prewake_races_no_lost_wakeups)                                                            \
    X(tick_report_counts_every_task_once)                                                       \
    X(tick_budget_overrun_fires_once)                                                           \
    X(tick_end_timeout_keeps_tick)                                                              \
    X(tick_report_agrees_with_trace)                                                            \
    X(pinned_tasks_run_only_on_owner)                                                           \
    X(pinned_run_order_and_destroy)                                                             \
    X(pinned_destroy_inside_a_task_refused)                                                     \
    X(pinned_destroy_cancels_as_a_task)                                                         \
    X(pinned_destroy_from_notification_refused)                                                 \
    X(tick_end_waits_for_late_submissions)                                                      \
    X(tick_end_helps_while_overrun_runs)                                                        \
    X(monitor_thread_runs_no_tasks)                                                             \
    X(pinned_mixed_batch_refused)                                                               \
    X(tick_workers_without_report)                                                              \
    X(pinned_submit_races_shutdown)                                                             \
    X(tick_end_after_shutdown_keeps_overrun)                                                    \
    X(tick_report_skips_cancelled_tasks)                                                        \
    X(pinned_owner_shuts_down_with_tasks_queued)                                                \
    X(monitor_callback_waits_for_itself_refused)                                                \
    X(pinned_destroy_wakes_a_waiting_shutdown)                                                  \
    X(numa_no_remote_steal_with_local_work)                                                        \
    X(numa_machine_topology_and_memory)                                                            \
    X(limits_parallel_for_nested_min_stack)                                                        \
    X(limits_parallel_for_nested_deep)                                                             \
    X(limits_parallel_for_many_workers)                                                            \
    X(limits_alloc_on_node_overflow)                                                               \
    X(limits_concurrent_create_real_topology)                                                      \
    X(tick_overrun_at_begin_is_reported)                                                           \
    X(tick_wall_covers_tasks_run_while_overrun_runs)                                               \
    X(tick_end_times_out_while_overrun_runs)                                                       \
    X(shutdown_by_pinned_owner_keeps_its_timeout)                                                  \
    X(tick_end_refuses_workers_null_with_capacity)

#define DECLARE(name) void test_##name(void);
TESTS(DECLARE)
#undef DECLARE

#define ENTRY(name) { #name, test_##name },
static const struct test_case all_tests[] = { TESTS(ENTRY) };
#undef ENTRY

#endif
