/*
** Shared by the libFuzzer targets in fuzz/ (built by `make fuzz`, see
** mk/check.mk). A broken property aborts with a message, which libFuzzer
** reports as a crash and saves the input under build/fuzz/.
*/
#ifndef DS_FUZZ_H
#define DS_FUZZ_H

#include "core.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                 \
  do {                                                        \
    if (!(cond)) {                                            \
      fprintf(stderr, "property failed: %s: ", #cond);        \
      fprintf(stderr, __VA_ARGS__);                           \
      fputc('\n', stderr);                                    \
      abort();                                                \
    }                                                         \
  } while (0)

#endif
