/* Runs a model compiled by hb.compile_library from C, without Python.

   Build (see README.md; make_model.py writes model.so, model.h and input.bin):
     cc -O2 -I. main.c ./model.so -Wl,-rpath,'$ORIGIN' -o run_model
     ./run_model input.bin output.bin

   The generated header names everything after the library: model.h declares model_run(),
   MODEL_WORKSPACE_BYTES, MODEL_INPUT0_BYTES, ...  This program handles one input and one output.
   model_run uses HYBRID_NUM_THREADS threads (default: every core); model_run_threads(..., n)
   takes the count explicitly.

   model_run returns MODEL_STATUS_OK (0), or a nonzero MODEL_STATUS_BAD_* code when an input value
   is invalid, as eager hybrid would raise: MODEL_STATUS_BAD_INDEX for an index outside its axis
   (take, Embedding, x[idx]; e.g. a token id >= the vocabulary size), MODEL_STATUS_BAD_EXPONENT for
   an integer raised to a negative integer power. The outputs are then undefined: do not use them.
   This program exits with status 3 then (1 for other failures). */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

#if MODEL_NUM_INPUTS != 1 || MODEL_NUM_OUTPUTS != 1
#error "this example runs models with exactly one input and one output"
#endif

static const char* status_meaning(int status) {
    switch (status) {
    case MODEL_STATUS_BAD_INDEX: return "an index is out of range";
    case MODEL_STATUS_BAD_EXPONENT: return "an integer is raised to a negative integer power";
    default: return "unknown status";
    }
}

static void* read_file(const char* path, size_t nbytes) {
    FILE* f = fopen(path, "rb");
    void* data = malloc(nbytes);
    if (!f || !data || fread(data, 1, nbytes, f) != nbytes) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", nbytes, path);
        exit(1);
    }
    fclose(f);
    return data;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s input.bin output.bin\n", argv[0]);
        return 2;
    }
    void* input = read_file(argv[1], MODEL_INPUT0_BYTES);
    void* output = malloc(MODEL_OUTPUT0_BYTES);
    void* workspace = aligned_alloc(64, (MODEL_WORKSPACE_BYTES + 63) / 64 * 64);
    if (!output || !workspace) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    const void* inputs[1] = {input};
    void* outputs[1] = {output};
    int status = model_run(inputs, outputs, workspace);
    if (status != MODEL_STATUS_OK) {
        fprintf(stderr, "model_run failed with status %d: %s; no output written\n", status, status_meaning(status));
        return 3;
    }
    FILE* f = fopen(argv[2], "wb");
    if (!f || fwrite(output, 1, MODEL_OUTPUT0_BYTES, f) != MODEL_OUTPUT0_BYTES) {
        fprintf(stderr, "writing %s failed\n", argv[2]);
        return 1;
    }
    fclose(f);
    printf("%s: ran %s, wrote %llu bytes to %s\n", argv[0], "model", (unsigned long long)MODEL_OUTPUT0_BYTES, argv[2]);
    free(input);
    free(output);
    free(workspace);
    return 0;
}
