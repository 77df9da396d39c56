"""The thread fan-out compiled into every AOT library (hb.compile_library).

The generated `<name>_run_part(inputs, outputs, workspace, barrier, tid, nthreads)` runs one
thread's share of the model and meets the others at the spin barrier in the generated code
(support.barrier_ir), like runtime.Team does in process. This C wrapper exports
    int <name>_run_threads(inputs, outputs, workspace, int num_threads)
    int <name>_run(inputs, outputs, workspace)        (= _run_threads with num_threads 0)
and for each call starts num_threads - 1 pthreads, runs tid 0 itself and joins them.
num_threads <= 0 means HYBRID_NUM_THREADS, else every core the process may use; a model with
no parallel stage always runs on the calling thread.

Threads are started per call rather than kept in a pool: no global state (concurrent callers,
fork, dlclose need nothing special), and creating and joining a thread costs tens of
microseconds, small beside a model worth splitting. Workers wait at a start gate until the
caller knows how many threads did start, so a failed pthread_create only means fewer threads.
"""
from __future__ import annotations

import os
import subprocess

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
    uint32_t barrier[2];   /* {arrived, generation}, zeroed per call */
    int nthreads;          /* the threads that started plus the caller; final once `go` is set */
    int go;
    int status;            /* the first nonzero status any thread returned */
};

struct hb_worker {
    struct hb_call* call;
    int tid;
};

static void hb_run_part(struct hb_call* call, int tid) {
    int status = HB_PART(call->inputs, call->outputs, call->workspace, call->barrier, tid, call->nthreads);
    int ok = 0;
    if (status != 0)
        __atomic_compare_exchange_n(&call->status, &ok, status, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void* hb_worker_main(void* arg) {
    struct hb_worker* worker = arg;
    while (!__atomic_load_n(&worker->call->go, __ATOMIC_ACQUIRE))
        sched_yield();
    hb_run_part(worker->call, worker->tid);
    return NULL;
}

static int hb_default_threads(void) {
    const char* env = getenv("HYBRID_NUM_THREADS");
    if (env && atoi(env) > 0)
        return atoi(env);
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
    struct hb_call call = {inputs, outputs, workspace, {0, 0}, 1, 0, 0};
    pthread_t* threads = wanted > 1 ? malloc(sizeof(pthread_t) * (wanted - 1)) : NULL;
    struct hb_worker* workers = wanted > 1 ? malloc(sizeof(struct hb_worker) * (wanted - 1)) : NULL;
    int started = 0;
    while (threads && workers && started < wanted - 1) {
        workers[started] = (struct hb_worker){&call, started + 1};
        if (pthread_create(&threads[started], NULL, hb_worker_main, &workers[started]) != 0)
            break;
        started++;
    }
    call.nthreads = started + 1;
    __atomic_store_n(&call.go, 1, __ATOMIC_RELEASE);
    hb_run_part(&call, 0);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    free(workers);
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
               f"-DHB_PARALLEL={int(parallel)}"]
    result = subprocess.run([compiler, "-O2", "-fPIC", "-pthread", "-c", source, "-o", obj] + defines,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HybridError(f"compiling the library's thread wrapper with {compiler} failed:\n{result.stderr}")
    return obj
