/*
** The plain allocator, in lua_Alloc's shape, that the core's unit tests
** (test/core_test.c) and the fuzz targets (fuzz/) hand to what the core
** allocates through a caller's function (ds_errq_new): realloc and free.
*/
#ifndef DS_TEST_ALLOC_H
#define DS_TEST_ALLOC_H

#include <stdlib.h>

static inline void *ds_test_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}

#endif
