/*
** libFuzzer target: the error-queue decoder and FIFO of src/core/errq.c
** (recverr, issue 17).
**
**  - The input's first byte splits it: a name (the original destination)
**    of up to 40 bytes, then control data, each in a heap block of exactly
**    its size (ASan sees any read past it). ds_errq_decode must stay inside
**    both and report only known origins, addresses of a known family, data
**    no longer than DS_ERRQ_DATA.
**  - Whatever decodes is pushed many times into a FIFO: it never holds more
**    than DS_ERRQ_MAX, and what pops back is what went in.
*/
#include "fuzz.h"
#include "../test/alloc.h"

#include <string.h>

static void *copy_block(const uint8_t *p, size_t n) {
  void *b = malloc(n ? n : 1);
  if (!b) abort();
  if (n) memcpy(b, p, n);
  return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char payload[DS_ERRQ_DATA + 7] = "quoted";
  ds_errq_entry e, out;
  size_t namelen, ctllen;
  void *name, *ctl;
  int got, i;
  ds_errq *q;
  if (size < 1) return 0;
  namelen = data[0] % 41;
  if (namelen > size - 1) namelen = size - 1;
  ctllen = size - 1 - namelen;
  name = copy_block(data + 1, namelen);
  ctl = copy_block(data + 1 + namelen, ctllen);
  got = ds_errq_decode(ctllen ? ctl : NULL, ctllen, name, namelen, payload,
                       data[0] & 0x80 ? sizeof(payload) : 6, &e);
  if (got) {
    FUZZ_CHECK(e.origin >= DS_ERRQ_NONE && e.origin <= DS_ERRQ_ICMP6, "origin %d", e.origin);
    FUZZ_CHECK(e.len <= DS_ERRQ_DATA, "len %u", (unsigned)e.len);
    FUZZ_CHECK(!e.has_offender || e.offender.af == AF_INET || e.offender.af == AF_INET6,
               "offender af %d", e.offender.af);
    FUZZ_CHECK(!e.has_addr || (e.port >= 0 && e.port <= 65535), "port %d", e.port);
    q = ds_errq_new(ds_test_alloc, NULL);
    if (!q) abort();
    for (i = 0; i < DS_ERRQ_MAX + 3; i++) ds_errq_push(q, &e);
    FUZZ_CHECK(ds_errq_count(q) == DS_ERRQ_MAX, "count %u", ds_errq_count(q));
    FUZZ_CHECK(ds_errq_pop(q, &out) == 1 && out.lost == 3 && out.err == e.err &&
                   out.len == e.len && memcmp(out.data, e.data, e.len) == 0,
               "popped entry differs");
    ds_errq_free(q);
  }
  free(name);
  free(ctl);
  return 0;
}
