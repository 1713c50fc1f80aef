/* oneTBB as a peer of the bot benchmark (Debian's libtbb-dev). */
#ifndef CTP_BENCH_TBB_H
#define CTP_BENCH_TBB_H

#include "ctp_bots.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A tbb::task_arena of `threads` slots (the calling thread takes one) and a
 *  tbb::task_group: each batch runs one task_group::run per item inside the
 *  arena, then task_group::wait, which works while it waits. 0, or -1. */
int ctpb_pool_tbb(size_t threads, ctpb_pool *out);

#ifdef __cplusplus
}
#endif

#endif
