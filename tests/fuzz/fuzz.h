/*
 * The entry point every fuzz target defines. With -DEEFETCH_FUZZ=ON and clang
 * the targets link with libFuzzer; in every build they also link with
 * replay_main.c, which feeds a committed corpus to the same function.
 */
#ifndef EEFETCH_FUZZ_H
#define EEFETCH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are stored here so that the compiler cannot drop the work that
 * produced them (each target defines it). */
extern volatile unsigned long fuzz_sink;

#endif
