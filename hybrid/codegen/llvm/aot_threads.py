"""The thread fan-out compiled into every AOT library (hb.compile_library).

The generated `<name>_run_part(inputs, outputs, workspace, barrier, tid, nthreads)` runs one
thread's share of the model and meets the others at the spin barrier in the generated code
(support.barrier_ir), like team.Team does in process. This C wrapper exports
    int <name>_run_threads(inputs, outputs, workspace, int num_threads)
    int <name>_run(inputs, outputs, workspace)        (= _run_threads with num_threads 0)
num_threads <= 0 means HYBRID_NUM_THREADS (read by the library at run time, at most
config.MAX_THREADS), else every core the process may use; a model with
no parallel stage always runs on the calling thread. Both return the first nonzero status any
thread's part returned (thread 0's failed input check: library.STATUS), else 0.

The library keeps a pool of num_threads - 1 persistent pthreads (started by the first call
that wants them, sleeping on a condition variable between calls); a call wakes them, runs
tid 0 itself and waits until they are done. Starting threads per call instead cost 45-160 us
of pthread_create + join on the 2-core dev box: LeNet-5 batch 64 ran 1.37 ms on one thread but
1.52 ms on two. Like team.Team, a call that finds the pool busy (another thread of the
process is running the model) runs on its own thread alone. A failed pthread_create only means
fewer threads; a forked child starts a fresh pool. The library is linked -z nodelete so the
pool's threads never outlive its code.
"""
from __future__ import annotations

import os
import subprocess

from ...config import MAX_THREADS
from ...errors import HybridError

SOURCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int HB_PART(const void* const* inputs, void* const* outputs, void* workspace, uint32_t* barrier,
            int32_t tid, int32_t nthreads);

struct hb_call {
    const void* const* inputs;
    void* const* outputs;
    void* workspace;
    uint32_t barrier[6];   /* {arrived, generation, -, -, sleepers, sleeps} (support.BARRIER_BYTES), zeroed per call */
    int nthreads;          /* the caller plus the pool threads taking part */
    int status;            /* the first nonzero status any thread returned */
};

/* The persistent workers (tids 1..workers). `busy` is held by the one call using them; `lock`
   guards `call` and `generation`, whose change wakes the workers for a new call. */
static struct {
    pthread_mutex_t busy, lock;
    pthread_cond_t wake;
    struct hb_call* call;
    int nthreads;          /* the current call's, read under `lock`: a worker not taking part */
    unsigned generation;   /* must not touch `call`, which may have returned already */
    int workers;
    int running;           /* workers still inside the current call */
} hb_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 1, 0, 0, 0};

struct hb_worker_start {
    int tid;
    unsigned generation;   /* the last call before this worker existed */
};

static void hb_run_part(struct hb_call* call, int tid) {
    int status = HB_PART(call->inputs, call->outputs, call->workspace, call->barrier, tid, call->nthreads);
    int ok = 0;
    if (status != 0)
        __atomic_compare_exchange_n(&call->status, &ok, status, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void* hb_worker_main(void* arg) {
    struct hb_worker_start start = *(struct hb_worker_start*)arg;
    free(arg);
    for (unsigned seen = start.generation;;) {
        pthread_mutex_lock(&hb_pool.lock);
        while (hb_pool.generation == seen)
            pthread_cond_wait(&hb_pool.wake, &hb_pool.lock);
        seen = hb_pool.generation;
        struct hb_call* call = hb_pool.call;
        int taking_part = start.tid < hb_pool.nthreads;
        pthread_mutex_unlock(&hb_pool.lock);
        if (taking_part) {
            hb_run_part(call, start.tid);
            __atomic_sub_fetch(&hb_pool.running, 1, __ATOMIC_RELEASE);
        }
    }
    return NULL;
}

/* A forked child has none of the parent's threads (and maybe a locked mutex): start afresh. */
static void hb_pool_after_fork(void) {
    pthread_mutex_init(&hb_pool.busy, NULL);
    pthread_mutex_init(&hb_pool.lock, NULL);
    pthread_cond_init(&hb_pool.wake, NULL);
    hb_pool.workers = 0;
}

static void hb_pool_register_fork(void) { pthread_atfork(NULL, NULL, hb_pool_after_fork); }

/* Start workers until there are `wanted` (fewer if pthread_create fails); needs `busy`. */
static void hb_pool_grow(int wanted) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, hb_pool_register_fork);
    while (hb_pool.workers < wanted) {
        struct hb_worker_start* start = malloc(sizeof *start);
        pthread_t thread;
        if (!start)
            return;
        *start = (struct hb_worker_start){hb_pool.workers + 1, hb_pool.generation};
        if (pthread_create(&thread, NULL, hb_worker_main, start) != 0) {
            free(start);
            return;
        }
        pthread_detach(thread);
        hb_pool.workers++;
    }
}

static int hb_default_threads(void) {
    const char* env = getenv("HYBRID_NUM_THREADS");
    if (env && atoi(env) > 0)   /* the process's own reading of the setting: clamped, as hybrid.config refuses more */
        return atoi(env) < HB_MAX_THREADS ? atoi(env) : HB_MAX_THREADS;
#ifdef __linux__
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0)
        return CPU_COUNT(&cpus);
#endif
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)cores : 1;
}

int HB_RUN_THREADS(const void* const* inputs, void* const* outputs, void* workspace, int num_threads) {
    int wanted = !HB_PARALLEL ? 1 : num_threads > 0 ? num_threads : hb_default_threads();
    struct hb_call call = {inputs, outputs, workspace, {0, 0}, 1, 0};
    /* a call that finds the pool busy (another thread is running the model) runs alone */
    if (wanted == 1 || pthread_mutex_trylock(&hb_pool.busy) != 0) {
        hb_run_part(&call, 0);
        return call.status;
    }
    hb_pool_grow(wanted - 1);
    call.nthreads = wanted <= hb_pool.workers + 1 ? wanted : hb_pool.workers + 1;
    __atomic_store_n(&hb_pool.running, call.nthreads - 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&hb_pool.lock);
    hb_pool.call = &call;
    hb_pool.nthreads = call.nthreads;
    hb_pool.generation++;
    pthread_cond_broadcast(&hb_pool.wake);
    pthread_mutex_unlock(&hb_pool.lock);
    hb_run_part(&call, 0);
    while (__atomic_load_n(&hb_pool.running, __ATOMIC_ACQUIRE) != 0)
        sched_yield();
    pthread_mutex_unlock(&hb_pool.busy);
    return call.status;
}

int HB_RUN(const void* const* inputs, void* const* outputs, void* workspace) {
    return HB_RUN_THREADS(inputs, outputs, workspace, 0);
}
"""


def thread_wrapper_object(compiler: str, folder: str, name: str, parallel: bool) -> str:
    """Compile the fan-out for library `name` into an object in `folder`; returns its path."""
    source, obj = os.path.join(folder, "threads.c"), os.path.join(folder, "threads.o")
    with open(source, "w") as f:
        f.write(SOURCE)
    defines = [f"-DHB_PART={name}_run_part", f"-DHB_RUN={name}_run", f"-DHB_RUN_THREADS={name}_run_threads",
               f"-DHB_PARALLEL={int(parallel)}", f"-DHB_MAX_THREADS={MAX_THREADS}"]
    result = subprocess.run([compiler, "-O2", "-fPIC", "-pthread", "-c", source, "-o", obj] + defines,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HybridError(f"compiling the library's thread wrapper with {compiler} failed:\n{result.stderr}")
    return obj
