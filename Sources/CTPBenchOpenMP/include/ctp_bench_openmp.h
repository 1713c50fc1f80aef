/* OpenMP as a peer of the bot benchmark (built with -fopenmp, LLVM's libomp). */
#ifndef CTP_BENCH_OPENMP_H
#define CTP_BENCH_OPENMP_H

#include "ctp_bots.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Each batch is one parallel region of `threads` threads: one thread
 *  creates a task per item (with the OpenMP priority clause), the team runs
 *  them, the region's closing barrier is the wait. 0, or -1 (threads 0). */
int ctpb_pool_openmp(size_t threads, ctpb_pool *out);

#ifdef __cplusplus
}
#endif

#endif
