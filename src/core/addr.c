/*
** Addresses without Lua: numeric text <-> binary without getaddrinfo or
** printf (they sit on the per-datagram path), RFC 5952 output, the
** IPv4-mapped helpers and sockaddr conversion. The fuzzers and the unit
** tests call these directly.
*/
#include "core.h"

#include <string.h>

static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0xff, 0xff};

static const char *parse_scope(const char *s, size_t len, uint32_t *scope) {
  char name[IF_NAMESIZE];
  size_t i;
  uint64_t n = 0;
  if (len == 0) return "empty zone after '%'";
  for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    n = n * 10 + (uint64_t)(s[i] - '0');
    if (n > 0xffffffffu) return "zone index out of range";
  }
  if (i == len) {
    *scope = (uint32_t)n;
    return NULL;
  }
  if (len >= IF_NAMESIZE) return "interface name too long";
  memcpy(name, s, len);
  name[len] = '\0';
  *scope = ds_sys_ifindex(name);
  return *scope ? NULL : "unknown interface in zone";
}

/* Numeric text to binary; NULL on success, else why it is not an address. */
const char *ds_pton(const char *text, size_t len, ds_ip *ip) {
  char buf[INET6_ADDRSTRLEN];
  const char *pct = memchr(text, '%', len);
  size_t alen = pct ? (size_t)(pct - text) : len;
  if (memchr(text, '\0', len)) return "address contains a NUL byte";
  if (alen == 0) return "empty address";
  if (alen >= sizeof(buf)) return "address too long";
  memcpy(buf, text, alen);
  buf[alen] = '\0';
  ip->scope = 0;
  if (memchr(buf, ':', alen)) {
    ip->af = AF_INET6;
    if (!ds_sys_pton(AF_INET6, buf, ip->bytes)) return "malformed IPv6 address";
    if (pct) return parse_scope(pct + 1, len - alen - 1, &ip->scope);
    return NULL;
  }
  ip->af = AF_INET;
  if (pct) return "a zone ('%') needs an IPv6 address";
  if (!ds_sys_pton(AF_INET, buf, ip->bytes)) return "malformed IPv4 address";
  return NULL;
}

static char *put_decimal(char *p, unsigned v) {
  if (v >= 100) *p++ = (char)('0' + v / 100);
  if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
  *p++ = (char)('0' + v % 10);
  return p;
}

static char *put_ipv4(char *p, const unsigned char *b) {
  int i;
  for (i = 0; i < 4; i++) {
    if (i) *p++ = '.';
    p = put_decimal(p, b[i]);
  }
  return p;
}

static char *put_hex16(char *p, unsigned v) {
  static const char hex[] = "0123456789abcdef";
  int shift, started = 0;
  for (shift = 12; shift >= 0; shift -= 4) {
    unsigned d = (v >> shift) & 0xf;
    if (d || started || shift == 0) {
      *p++ = hex[d];
      started = 1;
    }
  }
  return p;
}

/* RFC 5952 section 4.2: the longest run (first of equals) of two or more
** zero groups becomes "::". */
static void longest_zero_run(const unsigned *w, int *start, int *len) {
  int i, run = 0;
  *start = -1;
  *len = 1;
  for (i = 0; i <= 8; i++) {
    if (i < 8 && w[i] == 0) {
      run++;
    } else {
      if (run > *len) {
        *len = run;
        *start = i - run;
      }
      run = 0;
    }
  }
}

static char *put_ipv6(char *p, const unsigned char *b) {
  unsigned w[8];
  int i, zstart, zlen;
  if (memcmp(b, mapped_prefix, 12) == 0) { /* RFC 5952 section 5 */
    memcpy(p, "::ffff:", 7);
    return put_ipv4(p + 7, b + 12);
  }
  for (i = 0; i < 8; i++) w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
  longest_zero_run(w, &zstart, &zlen);
  for (i = 0; i < 8; i++) {
    if (i == zstart) {
      *p++ = ':';
      if (i == 0) *p++ = ':';
      i += zlen - 1;
      continue;
    }
    p = put_hex16(p, w[i]);
    if (i < 7) *p++ = ':';
  }
  return p;
}

static char *put_scope(char *p, uint32_t scope) {
  char name[IF_NAMESIZE];
  *p++ = '%';
  /* A name of digits would read back as an index (parse_scope): the
  ** index is written then, so the text names the same interface. */
  if (ds_sys_ifname(scope, name) == 0 && strspn(name, "0123456789") != strlen(name)) {
    size_t n = strlen(name);
    memcpy(p, name, n);
    return p + n;
  } else {
    char digits[12];
    int n = 0;
    do digits[n++] = (char)('0' + scope % 10); while ((scope /= 10) != 0);
    while (n) *p++ = digits[--n];
    return p;
  }
}

/* Binary to text; out holds DS_ADDRSTRLEN. Returns the length written. */
size_t ds_ntop(const ds_ip *ip, char *out) {
  char *p;
  if (ip->af == AF_INET) {
    p = put_ipv4(out, ip->bytes);
  } else {
    p = put_ipv6(out, ip->bytes);
    if (ip->scope) p = put_scope(p, ip->scope);
  }
  *p = '\0';
  return (size_t)(p - out);
}

void ds_ip_map(ds_ip *ip) {
  if (ip->af != AF_INET) return;
  memmove(ip->bytes + 12, ip->bytes, 4);
  memcpy(ip->bytes, mapped_prefix, 12);
  ip->af = AF_INET6;
  ip->scope = 0;
}

void ds_ip_unmap(ds_ip *ip) {
  if (!ds_ip_is_mapped(ip)) return;
  memmove(ip->bytes, ip->bytes + 12, 4);
  ip->af = AF_INET;
  ip->scope = 0;
}

void ds_ip_to_sockaddr(const ds_ip *ip, int port, ds_sockaddr *sa) {
  if (ip->af == AF_INET) {
    memset(&sa->u.in, 0, sizeof(sa->u.in));
    sa->u.in.sin_family = AF_INET;
    sa->u.in.sin_port = htons((uint16_t)port);
    memcpy(&sa->u.in.sin_addr, ip->bytes, 4);
    sa->len = sizeof(sa->u.in);
  } else {
    memset(&sa->u.in6, 0, sizeof(sa->u.in6));
    sa->u.in6.sin6_family = AF_INET6;
    sa->u.in6.sin6_port = htons((uint16_t)port);
    memcpy(&sa->u.in6.sin6_addr, ip->bytes, 16);
    sa->u.in6.sin6_scope_id = ip->scope;
    sa->len = sizeof(sa->u.in6);
  }
}

/* Returns the port, or -1 when sa is not an IP address. */
int ds_sockaddr_to_ip(const struct sockaddr *sa, ds_ip *ip) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    ip->af = AF_INET;
    memcpy(ip->bytes, &in->sin_addr, 4);
    ip->scope = 0;
    return ntohs(in->sin_port);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    ip->af = AF_INET6;
    memcpy(ip->bytes, &in6->sin6_addr, 16);
    ip->scope = in6->sin6_scope_id;
    return ntohs(in6->sin6_port);
  }
  return -1;
}
