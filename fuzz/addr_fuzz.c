/*
** libFuzzer target: the numeric address parser and formatter of src/core/addr.c
** (ds_pton, ds_ntop and the mapped-address helpers behind ds.normalize,
** ds.map, ds.unmap and ds.same).
**
** The input is read twice: as address text, and as raw bytes to format.
** Properties checked:
**  - pton accepts exactly what inet_pton accepts (plus a valid %zone on
**    IPv6), with the same bytes; text with a NUL byte is refused;
**  - normalize is idempotent: ntop(pton(ntop(x))) == ntop(x), and pton of
**    ntop's text gives back the same address and zone;
**  - unmap(map(x)) == x for IPv4, and map's text is "::ffff:" + x's;
**  - ntop of 16 bytes equals the RFC 5952 reference formatter below, and
**    glibc's inet_ntop wherever glibc does not pick the ::a.b.c.d form
**    (it does for some non-mapped addresses; RFC 5952 writes those in hex);
**    ntop of 4 bytes equals inet_ntop.
*/
#include "fuzz.h"

#include <string.h>

/* ---- independent references ---- */

static int is_mapped_bytes(const unsigned char *b) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(b, prefix, 12) == 0;
}

/* RFC 5952: lowercase hex without leading zeros, the longest run of two or
** more zero groups (the first of equal runs) as "::", mapped addresses as
** ::ffff:a.b.c.d. Written with snprintf and a scan from every start, to
** share nothing with core/addr.c. */
static void ref_ntop6(const unsigned char *b, char *out, size_t cap) {
  unsigned g[8];
  int i, start, best = -1, bestlen = 0;
  size_t n = 0;
  if (is_mapped_bytes(b)) {
    snprintf(out, cap, "::ffff:%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    return;
  }
  for (i = 0; i < 8; i++) g[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
  for (start = 0; start < 8; start++) {
    int len = 0;
    while (start + len < 8 && g[start + len] == 0) len++;
    if (len >= 2 && len > bestlen) {
      best = start;
      bestlen = len;
    }
  }
  out[0] = '\0';
  for (i = 0; i < 8;) {
    if (i == best) {
      n += (size_t)snprintf(out + n, cap - n, "::");
      i += bestlen;
      continue;
    }
    if (i > 0 && i != best + bestlen) n += (size_t)snprintf(out + n, cap - n, ":");
    n += (size_t)snprintf(out + n, cap - n, "%x", g[i]);
    i++;
  }
}

/* The zone rule: all digits is an index, any 32-bit value (sin6_scope_id
** is a uint32_t and the kernel reports whatever interface index it has);
** any other text must name an interface. Returns 1 and sets *scope when
** valid. */
static int ref_zone(const char *z, size_t len, uint32_t *scope) {
  char name[IF_NAMESIZE];
  unsigned long long v = 0;
  size_t i;
  if (len == 0) return 0;
  for (i = 0; i < len && z[i] >= '0' && z[i] <= '9'; i++)
    if ((v = v * 10 + (unsigned)(z[i] - '0')) > 0xffffffffu) return 0;
  if (i == len) {
    *scope = (uint32_t)v;
    return 1;
  }
  if (len >= sizeof(name)) return 0;
  memcpy(name, z, len);
  name[len] = '\0';
  return (*scope = if_nametoindex(name)) != 0;
}

/* What inet_pton (and the zone rule) make of text without NUL bytes. */
static int ref_pton(const char *text, size_t len, ds_ip *ip) {
  char buf[256];
  const char *pct = memchr(text, '%', len);
  size_t alen = pct ? (size_t)(pct - text) : len;
  if (alen >= sizeof(buf)) return 0;
  memcpy(buf, text, alen);
  buf[alen] = '\0';
  ip->scope = 0;
  if (inet_pton(AF_INET6, buf, ip->bytes) == 1) {
    ip->af = AF_INET6;
    return !pct || ref_zone(pct + 1, len - alen - 1, &ip->scope);
  }
  ip->af = AF_INET;
  return !pct && inet_pton(AF_INET, buf, ip->bytes) == 1;
}

/* ---- properties ---- */

static int same_ip(const ds_ip *a, const ds_ip *b) {
  return a->af == b->af && a->scope == b->scope &&
         memcmp(a->bytes, b->bytes, a->af == AF_INET ? 4 : 16) == 0;
}

/* ntop's text parses back to the same address and formats identically. */
static void check_round_trip(const ds_ip *ip, const char *text, size_t n) {
  char again[DS_ADDRSTRLEN];
  ds_ip back;
  const char *why;
  FUZZ_CHECK(n > 0 && n < DS_ADDRSTRLEN && strlen(text) == n, "ntop length %zu", n);
  why = ds_pton(text, n, &back);
  FUZZ_CHECK(why == NULL, "pton refuses ntop's own text '%s': %s", text, why);
  FUZZ_CHECK(same_ip(ip, &back), "'%s' parses to another address", text);
  ds_ntop(&back, again);
  FUZZ_CHECK(strcmp(text, again) == 0, "normalize not idempotent: '%s' -> '%s'", text, again);
}

static void check_map_unmap(const ds_ip *ip, const char *text) {
  char mapped[DS_ADDRSTRLEN], want[DS_ADDRSTRLEN + 8];
  ds_ip m = *ip;
  ds_ip_map(&m);
  FUZZ_CHECK(m.af == AF_INET6 && ds_ip_is_mapped(&m), "map(%s) is not mapped", text);
  ds_ntop(&m, mapped);
  snprintf(want, sizeof(want), "::ffff:%s", text);
  FUZZ_CHECK(strcmp(mapped, want) == 0, "map(%s) = '%s'", text, mapped);
  ds_ip_unmap(&m);
  FUZZ_CHECK(same_ip(ip, &m), "unmap(map(%s)) differs", text);
}

/* The input as address text. */
static void fuzz_text(const char *text, size_t len) {
  ds_ip ip, ref;
  char out[DS_ADDRSTRLEN];
  const char *why = ds_pton(text, len, &ip);
  int want;
  if (memchr(text, '\0', len)) {
    FUZZ_CHECK(why != NULL, "text with a NUL byte accepted");
    return;
  }
  want = ref_pton(text, len, &ref);
  FUZZ_CHECK((why == NULL) == want, "pton %s '%.*s' (%s)", want ? "refuses" : "accepts",
             (int)len, text, why ? why : "accepted");
  if (why) return;
  FUZZ_CHECK(same_ip(&ip, &ref), "pton '%.*s' differs from inet_pton", (int)len, text);
  check_round_trip(&ip, out, ds_ntop(&ip, out));
  if (ip.af == AF_INET) check_map_unmap(&ip, out);
}

/* The input as binary addresses: 16 bytes (and a zone), and 4 bytes. */
static void fuzz_binary(const uint8_t *data, size_t size) {
  char out[DS_ADDRSTRLEN], ref[64], libc[INET6_ADDRSTRLEN];
  ds_ip ip;
  if (size >= 16) {
    ip.af = AF_INET6;
    memcpy(ip.bytes, data, 16);
    ip.scope = 0;
    ds_ntop(&ip, out);
    ref_ntop6(ip.bytes, ref, sizeof(ref));
    FUZZ_CHECK(strcmp(out, ref) == 0, "ntop '%s', RFC 5952 says '%s'", out, ref);
    inet_ntop(AF_INET6, ip.bytes, libc, sizeof(libc));
    if (!strchr(libc, '.') || is_mapped_bytes(ip.bytes))
      FUZZ_CHECK(strcmp(out, libc) == 0, "ntop '%s', inet_ntop says '%s'", out, libc);
    check_round_trip(&ip, out, strlen(out));
    if (size >= 20) { /* a zone, as the kernel may report any */
      memcpy(&ip.scope, data + 16, 4);
      check_round_trip(&ip, out, ds_ntop(&ip, out));
    }
  }
  if (size >= 4) {
    ip.af = AF_INET;
    memcpy(ip.bytes, data, 4);
    ip.scope = 0;
    ds_ntop(&ip, out);
    inet_ntop(AF_INET, ip.bytes, libc, sizeof(libc));
    FUZZ_CHECK(strcmp(out, libc) == 0, "ntop '%s', inet_ntop says '%s'", out, libc);
    check_round_trip(&ip, out, strlen(out));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_text((const char *)data, size);
  fuzz_binary(data, size);
  return 0;
}
