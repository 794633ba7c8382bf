/*
** libFuzzer target: the control-message code of src/core/cmsg.c.
**
**  - ds_cmsg_decode is fed the input as a received control buffer, in a
**    heap block of exactly that size (so ASan sees any read past it), at
**    the alignment recvmsg's buffer has. It must stay inside the buffer and
**    report only fields it knows, with values in their ranges.
**  - ds_cmsg_encode is given send fields taken from the input and a buffer
**    of a capacity taken from the input: it must write within the capacity
**    or refuse, and what it writes must decode back to the same fields
**    (source address, interface, hop limit, traffic class).
*/
#include "fuzz.h"

#include <string.h>

#define KNOWN_FIELDS (DS_CTL_ADDR | DS_CTL_IFINDEX | DS_CTL_HOPLIMIT | DS_CTL_TCLASS | \
                      DS_CTL_TIMESTAMP | DS_CTL_SEGMENT | DS_CTL_BROADCAST)

/* Consumes the input front to back; zeros once it runs out. */
typedef struct reader {
  const uint8_t *p;
  size_t left;
} reader;

static void take(reader *r, void *dst, size_t n) {
  size_t k = n < r->left ? n : r->left;
  memcpy(dst, r->p, k);
  memset((char *)dst + k, 0, n - k);
  r->p += k;
  r->left -= k;
}

static unsigned take_byte(reader *r) {
  uint8_t b;
  take(r, &b, 1);
  return b;
}

/* ---- the decoder on arbitrary bytes ---- */

static void fuzz_decode(const uint8_t *data, size_t size) {
  ds_ctl out;
  void *buf = malloc(size ? size : 1); /* malloc's alignment covers cmsghdr */
  FUZZ_CHECK(buf != NULL, "out of memory");
  if (size) memcpy(buf, data, size);
  memset(&out, 0xa5, sizeof(out)); /* fields the decoder does not set stay junk */
  ds_cmsg_decode(buf, size, &out);
  /* The spoof check's evidence: an IPv4 destination comes only from an
  ** IPv4-level message. */
  if ((out.have & DS_CTL_ADDR) && out.addr.af == AF_INET)
    FUZZ_CHECK(out.ipv4, "IPv4 dst without an IPv4-level message");
  free(buf);
  FUZZ_CHECK((out.have & ~(unsigned)KNOWN_FIELDS) == 0, "unknown field bits %#x", out.have);
  if (out.have & DS_CTL_ADDR)
    FUZZ_CHECK(out.addr.af == AF_INET || out.addr.af == AF_INET6, "address family %d",
               out.addr.af);
  if (out.have & DS_CTL_TCLASS)
    FUZZ_CHECK(out.tclass >= 0 && out.tclass <= 255, "traffic class %d", out.tclass);
  if (out.have & DS_CTL_BROADCAST)
    FUZZ_CHECK((out.have & DS_CTL_ADDR) && out.addr.af == AF_INET && out.broadcast.af == AF_INET,
               "broadcast without an IPv4 dst");
  if (size < sizeof(struct cmsghdr)) FUZZ_CHECK(out.have == 0, "fields from %zu bytes", size);
}

/* ---- encode, then decode what was encoded ---- */

/* Send fields in the ranges msg.c accepts (hoplimit -1..255, tclass
** 0..255); the source address is IPv4, mapped or IPv6 as ipv4 says. */
static void take_fields(reader *r, ds_ctl *in, int ipv4) {
  memset(in, 0, sizeof(*in));
  in->have = take_byte(r) & (DS_CTL_ADDR | DS_CTL_IFINDEX | DS_CTL_HOPLIMIT |
                             DS_CTL_TCLASS | DS_CTL_SEGMENT);
  take(r, in->addr.bytes, 16);
  in->addr.af = AF_INET6;
  if (ipv4) {
    in->addr.af = AF_INET; /* its first 4 bytes, or mapped as a dual socket holds it */
    if (take_byte(r) & 1) ds_ip_map(&in->addr);
  }
  take(r, &in->ifindex, sizeof(in->ifindex));
  in->hoplimit = (int)take_byte(r) - 1;
  in->tclass = (int)take_byte(r);
  in->segment = (int)take_byte(r);
  in->segment |= (int)take_byte(r) << 8;
}

static const unsigned char *v4_bytes(const ds_ip *a) {
  return a->af == AF_INET ? a->bytes : a->bytes + 12;
}

static void check_decoded(const ds_ctl *in, const ds_ctl *out, int ipv4) {
  static const unsigned char zero[16];
  int hop;
  if (in->have & (DS_CTL_ADDR | DS_CTL_IFINDEX)) {
    const unsigned char *want = !(in->have & DS_CTL_ADDR) ? zero
                              : ipv4 ? v4_bytes(&in->addr) : in->addr.bytes;
    FUZZ_CHECK(out->have & DS_CTL_ADDR, "source address lost");
    FUZZ_CHECK(out->addr.af == (ipv4 ? AF_INET : AF_INET6), "family %d", out->addr.af);
    FUZZ_CHECK(memcmp(out->addr.bytes, want, ipv4 ? 4 : 16) == 0, "source address changed");
    FUZZ_CHECK(out->ifindex == (in->have & DS_CTL_IFINDEX ? in->ifindex : 0u),
               "ifindex %u", out->ifindex);
  } else {
    FUZZ_CHECK(!(out->have & (DS_CTL_ADDR | DS_CTL_IFINDEX)), "address from nowhere");
  }
  /* Hop limit -1 (the socket's default) leaves IPv4's TTL message out:
  ** Linux refuses TTLs outside 1-255. */
  hop = (in->have & DS_CTL_HOPLIMIT) && !(ipv4 && in->hoplimit < 0);
  FUZZ_CHECK(!hop == !(out->have & DS_CTL_HOPLIMIT), "hoplimit flag");
  if (hop)
    FUZZ_CHECK(out->hoplimit == in->hoplimit, "hoplimit %d -> %d", in->hoplimit, out->hoplimit);
  FUZZ_CHECK(!(in->have & DS_CTL_TCLASS) == !(out->have & DS_CTL_TCLASS), "tclass flag");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* IPv4 sends IP_TOS as an int and receives it as one byte: the same
  ** value only where the low byte comes first. */
  if (in->have & DS_CTL_TCLASS)
    FUZZ_CHECK(out->tclass == in->tclass, "tclass %d -> %d", in->tclass, out->tclass);
#endif
}

static void fuzz_encode(const uint8_t *data, size_t size) {
  reader r = {data, size};
  unsigned mode = take_byte(&r);
  int ipv4 = (int)(mode & 1);
  size_t cap = (size_t)take_byte(&r) * 2; /* 0..510: around DS_CMSG_MAX */
  ds_ctl in, out;
  size_t len;
  void *buf = malloc(cap ? cap : 1);
  FUZZ_CHECK(buf != NULL, "out of memory");
  take_fields(&r, &in, ipv4);
  len = ds_cmsg_encode(buf, cap, &in, ipv4);
  if (len != (size_t)-1) {
    FUZZ_CHECK(len <= cap, "encoded %zu bytes into %zu", len, cap);
    ds_cmsg_decode(buf, len, &out);
    check_decoded(&in, &out, ipv4);
    /* What an IPv6 destination is sent never passes for IPv4 traffic. */
    if (!ipv4) FUZZ_CHECK(!out.ipv4, "IPv6 control data taken for IPv4");
  }
  free(buf);
  /* Whatever fits in the largest capacity fits in DS_CMSG_MAX. */
  if (cap >= DS_CMSG_MAX) FUZZ_CHECK(len != (size_t)-1, "%zu bytes refused", cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_decode(data, size);
  fuzz_encode(data, size);
  return 0;
}
