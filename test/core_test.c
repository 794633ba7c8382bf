/*
** Unit tests of src/core/ and the backend under it (no Lua): address
** text and sockaddrs, the control-message codec, the errno table, waiting
** and deadlines, the family probes, socket set-up, interfaces and a
** datagram through the backend on loopback. `make test` runs this before
** the spec suite; any failed check makes it exit 1. POSIX only: it uses
** pipes.
*/
#include "core.h"
#include "alloc.h" /* recverr: the allocator the FIFO is given */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int checks, failures;

#define CHECK(cond, ...)                                            \
  do {                                                              \
    checks++;                                                       \
    if (!(cond)) {                                                  \
      failures++;                                                   \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                 \
      fputc('\n', stderr);                                          \
    }                                                               \
  } while (0)

static int str_eq(const char *a, const char *b) {
  return a && b ? strcmp(a, b) == 0 : a == b;
}

/* ---- addresses ---- */

/* text parses, and formats as want (its RFC 5952 form). */
static void check_form(const char *text, int af, const char *want) {
  ds_ip ip, back;
  char out[DS_ADDRSTRLEN];
  const char *why = ds_pton(text, strlen(text), &ip);
  size_t n;
  CHECK(why == NULL, "'%s' refused: %s", text, why);
  if (why) return;
  CHECK(ip.af == af, "'%s' family %d", text, ip.af);
  n = ds_ntop(&ip, out);
  CHECK(n == strlen(out) && str_eq(out, want), "'%s' -> '%s', want '%s'", text, out, want);
  why = ds_pton(out, n, &back);
  CHECK(why == NULL && ds_ip_equal(&ip, &back), "'%s' does not parse back", out);
}

static void check_refused(const char *text, size_t len, const char *reason) {
  ds_ip ip;
  const char *why = ds_pton(text, len, &ip);
  CHECK(str_eq(why, reason), "'%.*s': '%s', want '%s'", (int)len, text, why ? why : "(accepted)",
        reason);
}

static void test_pton_ntop(void) {
  ds_ip ip;
  char out[DS_ADDRSTRLEN];
  check_form("127.0.0.1", AF_INET, "127.0.0.1");
  check_form("0.0.0.0", AF_INET, "0.0.0.0");
  check_form("255.255.255.255", AF_INET, "255.255.255.255");
  check_form("::1", AF_INET6, "::1");
  check_form("::", AF_INET6, "::");
  check_form("::ffff:192.0.2.1", AF_INET6, "::ffff:192.0.2.1");
  check_form("::FFFF:c000:0201", AF_INET6, "::ffff:192.0.2.1");
  /* RFC 5952: lowercase, no leading zeros, longest zero run, first of equals,
  ** a lone zero group is not shortened. */
  check_form("2001:0DB8:0000:0000:0000:0000:0000:0001", AF_INET6, "2001:db8::1");
  check_form("2001:db8:0:0:1:0:0:1", AF_INET6, "2001:db8::1:0:0:1");
  check_form("2001:0:0:1:0:0:0:1", AF_INET6, "2001:0:0:1::1");
  check_form("2001:db8:0:1:1:1:1:1", AF_INET6, "2001:db8:0:1:1:1:1:1");
  check_form("1:0:0:0:0:0:0:0", AF_INET6, "1::");
  check_form("::0.0.0.2", AF_INET6, "::2");
  /* Zones by index: digits stay digits when no interface has the index. */
  check_form("fe80::1%4000000000", AF_INET6, "fe80::1%4000000000");
  CHECK(ds_pton("fe80::1%4294967295", 18, &ip) == NULL && ip.scope == 4294967295u, "max zone");
  CHECK(ds_pton("fe80::1%1", 9, &ip) == NULL && ip.scope == 1, "zone 1");
  CHECK(ds_pton("fe80::1%lo", 10, &ip) == NULL && ip.scope == if_nametoindex("lo"), "zone lo");
  if (ip.scope) {
    ds_ntop(&ip, out);
    CHECK(str_eq(out, "fe80::1%lo"), "named zone formats as '%s'", out);
  }
  /* The length given counts, not a terminator. */
  CHECK(ds_pton("10.0.0.1junk", 8, &ip) == NULL && ds_ntop(&ip, out) == 8 &&
            str_eq(out, "10.0.0.1"), "prefix of a longer buffer: '%s'", out);

  check_refused("", 0, "empty address");
  check_refused("%1", 2, "empty address");
  check_refused("1.2.3.4\0", 8, "address contains a NUL byte");
  check_refused("0000:0000:0000:0000:0000:0000:0000:0000:0000:00001", 49, "address too long");
  check_refused("1.2.3", 5, "malformed IPv4 address");
  check_refused("1.2.3.256", 9, "malformed IPv4 address");
  check_refused("localhost", 9, "malformed IPv4 address");
  check_refused("1::2::3", 7, "malformed IPv6 address");
  check_refused("::g", 3, "malformed IPv6 address");
  check_refused("1.2.3.4%1", 9, "a zone ('%') needs an IPv6 address");
  check_refused("fe80::1%", 8, "empty zone after '%'");
  check_refused("fe80::1%4294967296", 18, "zone index out of range");
  check_refused("fe80::1%abcdefghijklmnopqrstuvwxyz", 34, "interface name too long");
  check_refused("fe80::1%nosuchif0", 17, "unknown interface in zone");
}

static void test_map_unmap(void) {
  ds_ip ip, v6;
  char out[DS_ADDRSTRLEN];
  CHECK(ds_pton("192.0.2.7", 9, &ip) == NULL, "parse");
  CHECK(!ds_ip_is_mapped(&ip), "IPv4 is not mapped");
  v6 = ip;
  ds_ip_map(&v6);
  ds_ntop(&v6, out);
  CHECK(v6.af == AF_INET6 && ds_ip_is_mapped(&v6) && str_eq(out, "::ffff:192.0.2.7"),
        "map gives '%s'", out);
  ds_ip_map(&v6); /* IPv6 stays as it is */
  ds_ntop(&v6, out);
  CHECK(str_eq(out, "::ffff:192.0.2.7"), "map of IPv6 gives '%s'", out);
  ds_ip_unmap(&v6);
  CHECK(ds_ip_equal(&v6, &ip), "unmap(map(x)) == x");
  CHECK(ds_pton("2001:db8::1", 11, &ip) == NULL, "parse");
  v6 = ip;
  ds_ip_unmap(&v6); /* not mapped: unchanged */
  CHECK(ds_ip_equal(&v6, &ip), "unmap of plain IPv6");
}

static void test_sockaddr(void) {
  ds_ip ip, back;
  ds_sockaddr sa;
  struct sockaddr_un {
    sa_family_t family;
    char path[8];
  } un = {AF_UNIX, "x"};
  CHECK(ds_pton("127.0.0.2", 9, &ip) == NULL, "parse");
  ds_ip_to_sockaddr(&ip, 5353, &sa);
  CHECK(sa.len == sizeof(struct sockaddr_in) && sa.u.in.sin_family == AF_INET &&
            ntohs(sa.u.in.sin_port) == 5353 && sa.u.in.sin_addr.s_addr == htonl(0x7f000002),
        "IPv4 sockaddr");
  CHECK(ds_sockaddr_to_ip(&sa.u.sa, &back) == 5353 && ds_ip_equal(&ip, &back), "IPv4 back");
  CHECK(ds_pton("fe80::2%7", 9, &ip) == NULL, "parse");
  ds_ip_to_sockaddr(&ip, 65535, &sa);
  CHECK(sa.len == sizeof(struct sockaddr_in6) && sa.u.in6.sin6_family == AF_INET6 &&
            ntohs(sa.u.in6.sin6_port) == 65535 && sa.u.in6.sin6_scope_id == 7,
        "IPv6 sockaddr");
  CHECK(ds_sockaddr_to_ip(&sa.u.sa, &back) == 65535 && ds_ip_equal(&ip, &back), "IPv6 back");
  CHECK(ds_sockaddr_to_ip((const struct sockaddr *)(const void *)&un, &back) == -1,
        "a non-IP sockaddr");
}

/* ---- control messages ---- */

/* Encodes in, decodes it back, and checks every field sent came back. */
static void check_cmsg(const char *addr, int ipv4, int af) {
  ds_cmsgbuf buf;
  ds_ctl in, out;
  size_t len;
  memset(&in, 0, sizeof(in));
  CHECK(ds_pton(addr, strlen(addr), &in.addr) == NULL, "parse %s", addr);
  in.have = DS_CTL_ADDR | DS_CTL_IFINDEX | DS_CTL_HOPLIMIT | DS_CTL_TCLASS;
  in.ifindex = 3;
  in.hoplimit = 17;
  in.tclass = 0xb8;
  len = ds_cmsg_encode(buf.bytes, sizeof(buf.bytes), &in, ipv4);
  CHECK(len != (size_t)-1 && len <= sizeof(buf.bytes), "%s: encoded %zu", addr, len);
  CHECK(ds_cmsg_encode(buf.bytes, len - 1, &in, ipv4) == (size_t)-1, "%s: short buffer", addr);
  len = ds_cmsg_encode(buf.bytes, sizeof(buf.bytes), &in, ipv4);
  ds_cmsg_decode(buf.bytes, len, &out);
  CHECK(out.have == in.have, "%s: fields %#x, want %#x", addr, out.have, in.have);
  CHECK(out.ipv4 == ipv4, "%s: ipv4 %d", addr, out.ipv4);
  CHECK(out.addr.af == af, "%s: family %d", addr, out.addr.af);
  if (af == AF_INET6)
    CHECK(memcmp(out.addr.bytes, in.addr.bytes, 16) == 0, "%s: source changed", addr);
  else
    CHECK(memcmp(out.addr.bytes, in.addr.af == AF_INET ? in.addr.bytes : in.addr.bytes + 12,
                 4) == 0, "%s: source changed", addr);
  CHECK(out.ifindex == 3, "%s: ifindex %u", addr, out.ifindex);
  CHECK(out.hoplimit == 17, "%s: hoplimit %d", addr, out.hoplimit);
  CHECK(out.tclass == 0xb8, "%s: tclass %d", addr, out.tclass);
}

/* An encoded header is the fields and zeros, padding too (musl's 64-bit
** cmsghdr has a pad word), whatever the buffer held before. */
static void test_cmsg_header_zeroed(void) {
  ds_cmsgbuf buf;
  ds_ctl in;
  ds_cmsghdr want;
  size_t len;
  memset(&buf, 0xAA, sizeof(buf));
  memset(&in, 0, sizeof(in));
  in.have = DS_CTL_HOPLIMIT;
  in.hoplimit = 7;
  len = ds_cmsg_encode(buf.bytes, sizeof(buf.bytes), &in, 0);
  memset(&want, 0, sizeof(want));
  want.cmsg_level = IPPROTO_IPV6;
  want.cmsg_type = IPV6_HOPLIMIT;
  want.cmsg_len = DS_CMSG_LEN(sizeof(int));
  CHECK(len == DS_CMSG_SPACE(sizeof(int)), "one message: %zu bytes", len);
  CHECK(memcmp(buf.bytes, &want, sizeof(want)) == 0, "the header is its fields and zeros");
}

/* One-byte TTL and TOS payloads, as the BSDs deliver a TTL and every
** kernel a TOS: read as bytes, never as the first byte of an int. */
static void put_byte_msg(char *at, int type, unsigned char value) {
  ds_cmsghdr h;
  memset(&h, 0, sizeof(h));
  h.cmsg_level = IPPROTO_IP;
  h.cmsg_type = type;
  h.cmsg_len = DS_CMSG_LEN(1);
  memcpy(at, &h, sizeof(h));
  at[DS_CMSG_LEN(0)] = (char)value;
}

static void test_cmsg_byte_payloads(void) {
  ds_cmsgbuf buf;
  ds_ctl out;
  memset(&buf, 0, sizeof(buf));
  put_byte_msg(buf.bytes, DS_IP_TTLMSG, 200);
  put_byte_msg(buf.bytes + DS_CMSG_SPACE(1), DS_IP_TOSMSG, 0xb9);
  ds_cmsg_decode(buf.bytes, 2 * DS_CMSG_SPACE(1), &out);
  CHECK((out.have & DS_CTL_HOPLIMIT) && out.hoplimit == 200, "one-byte TTL: %d", out.hoplimit);
  CHECK((out.have & DS_CTL_TCLASS) && out.tclass == 0xb9, "one-byte TOS: %d", out.tclass);
}

static void test_cmsg(void) {
  ds_cmsgbuf buf;
  ds_ctl in, out;
  size_t len;
  check_cmsg("192.0.2.1", 1, AF_INET);
  check_cmsg("::ffff:192.0.2.1", 1, AF_INET); /* a dual socket's IPv4 destination */
  check_cmsg("2001:db8::5", 0, AF_INET6);
  /* Hop limit -1 (the default): IPv6 says so, IPv4 leaves the TTL out. */
  memset(&in, 0, sizeof(in));
  in.have = DS_CTL_HOPLIMIT;
  in.hoplimit = -1;
  len = ds_cmsg_encode(buf.bytes, sizeof(buf.bytes), &in, 0);
  ds_cmsg_decode(buf.bytes, len, &out);
  CHECK(out.have == DS_CTL_HOPLIMIT && out.hoplimit == -1, "IPv6 default hop limit");
  CHECK(ds_cmsg_encode(buf.bytes, sizeof(buf.bytes), &in, 1) == 0, "IPv4 default hop limit");
  /* Nothing to send, nothing decoded. */
  in.have = 0;
  CHECK(ds_cmsg_encode(buf.bytes, sizeof(buf.bytes), &in, 1) == 0, "empty control");
  ds_cmsg_decode(NULL, 0, &out);
  CHECK(out.have == 0 && out.ipv4 == 0, "empty decode");
  CHECK(ds_cmsg_space(0) == 0, "no options, no room");
  CHECK(ds_cmsg_space(DS_RECV_PKTINFO) > 0, "pktinfo needs room");
  CHECK(ds_cmsg_space(DS_RECV_PKTINFO | DS_RECV_HOPLIMIT | DS_RECV_TCLASS | DS_RECV_TIMESTAMP |
                      DS_RECV_GRO | DS_RECV_GUARD) <= DS_CMSG_MAX,
        "every option fits DS_CMSG_MAX");
}

/* ---- the errno table ---- */

static void test_errors(void) {
  CHECK(str_eq(ds_errname_known(EMFILE), "EMFILE"), "EMFILE");
  CHECK(str_eq(ds_errname_known(ECONNREFUSED), "ECONNREFUSED"), "ECONNREFUSED");
  CHECK(str_eq(ds_errname_known(EAGAIN), "ETIMEDOUT"), "would-block is a timeout");
  CHECK(ds_errname_known(99999) == NULL, "unknown number");
  CHECK(ds_err_as_seen(99999) == 99999, "unknown stays itself");
  CHECK(str_eq(ds_errmessage(ETIMEDOUT), "timeout"), "timeout message");
  CHECK(str_eq(ds_errmessage(EPIPE), "closed"), "LuaSocket's wording");
  CHECK(ds_errmessage(99999) != NULL, "unknown number has a message");
}

/* ---- waiting and deadlines ---- */

static void test_deadline(void) {
  double a = ds_now(), d = ds_deadline(0.5), b = ds_now();
  CHECK(b >= a, "ds_now goes back: %f then %f", a, b);
  CHECK(d >= a + 0.5 && d <= b + 0.5, "deadline %f outside [%f, %f]", d, a + 0.5, b + 0.5);
  CHECK(ds_deadline(-1) < 0, "a negative timeout has no deadline (blocks)");
  CHECK(ds_deadline(0) >= a, "a zero timeout is due now");
}

/* A pipe: [0] reads, [1] writes. */
static int make_pipe(int p[2]) {
  int ok = pipe(p) == 0;
  CHECK(ok, "pipe: %s", strerror(errno));
  return ok;
}

static void test_wait(void) {
  int p[2];
  double t0, dl, took;
  struct pollfd pf[2];
  if (!make_pipe(p)) return;
  /* Nothing to read: times out, not before the deadline, not much later. */
  t0 = ds_now();
  dl = ds_deadline(0.02);
  CHECK(ds_wait(p[0], POLLIN, dl) == ETIMEDOUT, "empty pipe: ETIMEDOUT");
  took = ds_now() - t0;
  CHECK(ds_now() >= dl && took < 2.0, "waited %.3f s for a 0.02 s deadline", took);
  /* Data there: ready at once, even with a passed deadline (it looks once). */
  CHECK(write(p[1], "x", 1) == 1, "write");
  CHECK(ds_wait(p[0], POLLIN, ds_now() - 1) == 0, "readable past its deadline");
  CHECK(ds_wait(p[0], POLLIN, -1) == 0, "readable, no deadline");
  /* ds_poll: ready when one of the set is. */
  pf[0].fd = p[1]; /* a pipe's write end is never readable */
  pf[1].fd = p[0];
  pf[0].events = pf[1].events = POLLIN;
  pf[0].revents = pf[1].revents = 0;
  CHECK(ds_poll(pf, 2, ds_deadline(0.02)) == 0 && (pf[1].revents & POLLIN), "poll set ready");
  CHECK(ds_poll(pf, 1, ds_deadline(0.02)) == ETIMEDOUT, "poll set of one that is not");
  close(p[0]);
  close(p[1]);
}

/* One deadline per call: the first wait starts it, later waits share it. */
static void test_wait_ready(void) {
  int p[2];
  double dl = DS_DEADLINE_UNSET, first, t0;
  if (!make_pipe(p)) return;
  CHECK(ds_wait_ready(p[0], POLLIN, 0, &dl) == ETIMEDOUT && dl == DS_DEADLINE_UNSET,
        "zero timeout: ETIMEDOUT at once, no clock read");
  t0 = ds_now();
  CHECK(ds_wait_ready(p[0], POLLIN, 0.02, &dl) == ETIMEDOUT, "first wait times out");
  first = dl;
  CHECK(first >= t0 + 0.02 && ds_now() >= first, "deadline %f set from %f", first, t0);
  /* A restart would wait the 2 s this timeout asks for. */
  CHECK(ds_wait_ready(p[0], POLLIN, 2.0, &dl) == ETIMEDOUT && dl == first,
        "a second wait keeps the call's deadline");
  CHECK(ds_now() - first < 1.0, "the second wait restarted the timeout");
  CHECK(write(p[1], "x", 1) == 1, "write");
  dl = DS_DEADLINE_UNSET;
  CHECK(ds_wait_ready(p[0], POLLIN, -1, &dl) == 0 && dl < 0 && dl != DS_DEADLINE_UNSET,
        "no timeout: waits without a deadline");
  close(p[0]);
  close(p[1]);
}

/* Dropped datagrams: the first drop starts the clock, later ones check it. */
static void test_deadline_passed(void) {
  double dl = DS_DEADLINE_UNSET;
  CHECK(!ds_deadline_passed(-1, &dl) && dl == DS_DEADLINE_UNSET, "no timeout never passes");
  CHECK(!ds_deadline_passed(0, &dl) && dl != DS_DEADLINE_UNSET, "zero timeout: first drop reads on");
  CHECK(ds_deadline_passed(0, &dl), "zero timeout: second drop ends the call");
  dl = DS_DEADLINE_UNSET;
  CHECK(!ds_deadline_passed(60, &dl) && !ds_deadline_passed(60, &dl), "a long timeout has not passed");
}

/* ---- family probes (both families work on the test machine) ---- */

static void test_probe(void) {
  int err = 0;
  CHECK(ds_probe(AF_INET, 0, &err) == DS_PROBE_PRESENT, "IPv4 probe: err %d", err);
  CHECK(ds_probe(AF_INET6, 0, &err) == DS_PROBE_PRESENT, "IPv6 probe: err %d", err);
  CHECK(ds_probe(AF_INET6, 1, &err) == DS_PROBE_PRESENT, "dual-stack probe: err %d", err);
  err = 0;
  CHECK(ds_probe(-1, 0, &err) != DS_PROBE_PRESENT && err != 0, "a bogus family is not there");
}

/* ---- socket set-up and the backend ---- */

static int v6only_of(ds_fd fd) {
  int on = -1;
  socklen_t len = sizeof(on);
  if (ds_sys_getopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &len) < 0) return -1;
  return on;
}

/* V6ONLY is what was asked, never the system's default. */
static void test_make_socket(void) {
  int err = -1, on;
  ds_fd fd;
  for (on = 0; on <= 1; on++) {
    fd = ds_make_socket(AF_INET6, SOCK_DGRAM, on, &err);
    CHECK(fd != DS_FD_NONE && err == 0, "AF_INET6 socket: err %d", err);
    if (fd == DS_FD_NONE) continue;
    CHECK(v6only_of(fd) == on, "V6ONLY %d asked, %d set", on, v6only_of(fd));
    CHECK(ds_pending_error(fd) == 0, "a fresh socket has no pending error");
    ds_sys_close(fd);
  }
  fd = ds_make_socket(-1, SOCK_DGRAM, 0, &err);
  CHECK(fd == DS_FD_NONE && err == EAFNOSUPPORT, "bogus family: fd %d, err %d", fd, err);
  CHECK(ds_ipv4_option_error(EINVAL) == EINVAL, "IPv4 is on here: its option errors stand");
}

/* One datagram to itself on 127.0.0.1 through ds_sys_sendmsg and
** ds_sys_recvmmsg, with its packet info decoded: the path every receive
** takes, without Lua. */
static void test_loopback_datagram(void) {
  int err, on = 1;
  ds_fd fd = ds_make_socket(AF_INET, SOCK_DGRAM, 0, &err);
  ds_ip lo;
  ds_sockaddr sa;
  ds_msghdr mh;
  ds_mmsghdr v[2];
  ds_iov iov, riov[2];
  ds_cmsgbuf ctl[2];
  ds_sockaddr from[2];
  ds_ctl got;
  char buf[2][16];
  CHECK(fd != DS_FD_NONE, "AF_INET socket: err %d", err);
  if (fd == DS_FD_NONE) return;
  ds_pton("127.0.0.1", 9, &lo);
  ds_ip_to_sockaddr(&lo, 0, &sa);
  CHECK(ds_sys_bind(fd, &sa.u.sa, sa.len) == 0, "bind: %d", ds_sys_error());
  CHECK(ds_sys_setopt(fd, IPPROTO_IP, DS_IP_RECV_DSTOPT, &on, sizeof(on)) == 0, "pktinfo on");
  sa.len = sizeof(sa.u);
  CHECK(ds_sys_sockname(fd, &sa.u.sa, &sa.len) == 0, "sockname: %d", ds_sys_error());
  ds_msg_set(&mh, &sa.u, sa.len, &iov, "ping", 4, NULL, 0);
  CHECK(ds_sys_sendmsg(fd, &mh) == 4, "sendmsg: %d", ds_sys_error());
  ds_msg_set(&v[0].msg_hdr, &from[0].u, sizeof(from[0].u), &riov[0], buf[0], sizeof(buf[0]),
             ctl[0].bytes, sizeof(ctl[0].bytes));
  ds_msg_set(&v[1].msg_hdr, &from[1].u, sizeof(from[1].u), &riov[1], buf[1], sizeof(buf[1]),
             ctl[1].bytes, sizeof(ctl[1].bytes));
  CHECK(ds_sys_set_nonblocking(fd, 1) == 0, "non-blocking");
  CHECK(ds_sys_recvmmsg(fd, v, 2) == 1, "one datagram waited: %d", ds_sys_error());
  CHECK(v[0].msg_len == 4 && memcmp(buf[0], "ping", 4) == 0, "its bytes");
  ds_cmsg_decode(ds_msg_control(&v[0].msg_hdr), ds_msg_controllen(&v[0].msg_hdr), &got);
  CHECK((got.have & DS_CTL_ADDR) && ds_ip_equal(&got.addr, &lo) && got.ipv4,
        "its destination is 127.0.0.1, over IPv4");
  CHECK(ds_sys_recvmsg(fd, &v[1].msg_hdr) < 0 && ds_sys_error() == EAGAIN, "then none");
  ds_sys_close(fd);
}

/* ds_inspect reads what a descriptor made elsewhere is; ds_adopt sets it
** up as ours (close-on-exec, blocking, the IPv4 arrival marker). */
static void test_inspect_adopt(void) {
  static const struct { int af, type, v6only; } cases[] = {
    {AF_INET, SOCK_STREAM, 0}, {AF_INET, SOCK_DGRAM, 0}, {AF_INET6, SOCK_STREAM, 1},
    {AF_INET6, SOCK_DGRAM, 0}, {AF_INET6, SOCK_DGRAM, 1}};
  size_t i;
  int p[2], marker = 0;
  socklen_t len = sizeof(marker);
  ds_fdinfo info;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int err;
    ds_fd fd = ds_make_socket(cases[i].af, cases[i].type, cases[i].v6only, &err);
    CHECK(fd != DS_FD_NONE, "socket %zu: err %d", i, err);
    if (fd == DS_FD_NONE) continue;
    CHECK(ds_inspect(fd, &info) == 0 && info.af == cases[i].af && info.type == cases[i].type &&
          info.v6only == cases[i].v6only && !info.bound, "case %zu read back", i);
    ds_sys_close(fd);
  }
  /* a bare socket (no marker), non-blocking: adopted, it is blocking and has the marker */
  {
    int err = 0;
    ds_fd fd = ds_sys_socket(AF_INET6, SOCK_DGRAM);
    CHECK(fd != DS_FD_NONE, "bare socket");
    if (fd == DS_FD_NONE) return;
    CHECK(ds_set_v6only(fd, 0) == 0 && ds_sys_set_nonblocking(fd, 1) == 0 &&
          fcntl(fd, F_SETFD, 0) == 0, "set-up: dual, non-blocking, inherited by exec");
    CHECK(ds_inspect(fd, &info) == 0 && !info.v6only, "dual read back");
    CHECK((err = ds_adopt(fd, &info)) == 0, "adopt: %d", err);
#if defined(DS_IP_GUARD_OPT)
    CHECK(ds_sys_getopt(fd, IPPROTO_IP, DS_IP_GUARD_OPT, &marker, &len) == 0 && marker,
          "the IPv4 arrival marker is on");
#endif
    (void)len;
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "blocking again");
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
    ds_sys_close(fd);
  }
  CHECK(pipe(p) == 0, "pipe");
  CHECK(ds_inspect(p[0], &info) == ENOTSOCK, "a pipe is no socket");
  close(p[0]);
  close(p[1]);
  CHECK(ds_inspect(p[0], &info) == EBADF, "a closed descriptor");
}

/* A connected datagram socket is free again after ds_sys_disconnect. */
static void test_disconnect(void) {
  int err;
  ds_fd fd = ds_make_socket(AF_INET, SOCK_DGRAM, 0, &err);
  ds_ip lo;
  ds_sockaddr sa;
  CHECK(fd != DS_FD_NONE, "socket");
  if (fd == DS_FD_NONE) return;
  ds_pton("127.0.0.1", 9, &lo);
  ds_ip_to_sockaddr(&lo, 9, &sa);
  CHECK(ds_sys_connect(fd, &sa.u.sa, sa.len) == 0, "connect: %d", ds_sys_error());
  sa.len = sizeof(sa.u);
  CHECK(ds_sys_peername(fd, &sa.u.sa, &sa.len) == 0, "connected");
  CHECK(ds_sys_disconnect(fd) == 0, "disconnect: %d", ds_sys_error());
  sa.len = sizeof(sa.u);
  CHECK(ds_sys_peername(fd, &sa.u.sa, &sa.len) < 0 && ds_sys_error() == ENOTCONN,
        "no peer after disconnect");
  ds_sys_close(fd);
}

/* The wall clock is past 2020 and moves with the monotonic one. */
static void test_realtime(void) {
  double t0 = ds_sys_realtime(), m0 = ds_sys_monotonic(), t1, m1;
  CHECK(t0 > 1577836800.0, "realtime %f is after 2020", t0);
  t1 = ds_sys_realtime();
  m1 = ds_sys_monotonic();
  CHECK(t1 >= t0 - 1 && (t1 - t0) - (m1 - m0) < 0.5, "realtime advances");
  CHECK(ds_sys_getpid() == (long)getpid(), "getpid");
}

/* The loopback interface (found by its flag: "lo" on Linux, "lo0" on
** the BSDs): its name, index and address. */
static void test_interfaces(void) {
  ds_ifaddrs *all;
  ds_ifaddr ifa;
  ds_ip lo, have;
  char name[IF_NAMESIZE], loname[IF_NAMESIZE] = "";
  unsigned idx;
  CHECK(ds_sys_ifaddrs_open(&all) == 0, "interface list");
  while (ds_sys_ifaddrs_next(all, &ifa))
    if ((ifa.flags & DS_IF_LOOPBACK) && ifa.addr && ds_sockaddr_to_ip(ifa.addr, &have) >= 0 &&
        have.af == AF_INET) {
      CHECK(ifa.prefixlen == 8, "127.0.0.1/8: prefix %d", ifa.prefixlen);
      snprintf(loname, sizeof(loname), "%s", ifa.name);
    }
  ds_sys_ifaddrs_close(all);
  CHECK(loname[0] != '\0', "a loopback interface with an IPv4 address is listed");
  idx = ds_sys_ifindex(loname);
  CHECK(idx > 0, "%s has an index", loname);
  CHECK(ds_sys_ifname(idx, name) == 0 && str_eq(name, loname), "index %u is %s", idx, loname);
  CHECK(ds_sys_ifindex("no-such-if0") == 0, "an unknown name has none");
  ds_pton("127.0.0.1", 9, &lo);
  CHECK(ds_ifindex_of_addr(&lo) == idx, "127.0.0.1 is on %s", loname);
  CHECK(str_eq(ds_gai_errname(EAI_NONAME), "EAI_NONAME"), "getaddrinfo codes by name");
}

/* ---- recverr (issue 17): the error-queue decoder and the FIFO ---- */

/* One IP_RECVERR message into buf: ee, then the offender (sa, salen bytes;
** none when 0), the message cut to cut bytes when cut > 0. Its length. */
static size_t errq_message(ds_cmsgbuf *buf, const ds_sock_ee *ee, const void *sa, size_t salen,
                           size_t cut) {
  ds_msghdr mh;
  ds_iov iov;
  ds_cmsghdr *c;
  size_t len = DS_CMSG_SPACE(sizeof(*ee) + salen);
  memset(buf, 0, sizeof(*buf));
  ds_msg_set(&mh, NULL, 0, &iov, NULL, 0, buf->bytes, len);
  c = DS_CMSG_FIRSTHDR(&mh);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = DS_IP_RECVERR;
  c->cmsg_len = DS_CMSG_LEN(sizeof(*ee) + salen);
  memcpy(DS_CMSG_DATA(c), ee, sizeof(*ee));
  if (salen) memcpy(DS_CMSG_DATA(c) + sizeof(*ee), sa, salen);
  if (cut) c->cmsg_len = cut;
  return len;
}

static void test_errq_decode(void) {
#if defined(DS_HAVE_ERRQUEUE)
  ds_cmsgbuf buf;
  ds_sock_ee ee;
  ds_sockaddr off, dst;
  ds_errq_entry e;
  ds_ip ip;
  char text[DS_ADDRSTRLEN];
  size_t len;
  memset(&ee, 0, sizeof(ee));
  ee.ee_errno = ECONNREFUSED;
  ee.ee_origin = DS_ERRQ_ICMP;
  ee.ee_type = 3;
  ee.ee_code = 3;
  ds_pton("127.0.0.2", 9, &ip);
  ds_ip_to_sockaddr(&ip, 0, &off);
  ds_ip_to_sockaddr(&ip, 4242, &dst);
  len = errq_message(&buf, &ee, &off.u.in, sizeof(off.u.in), 0);
  CHECK(ds_errq_decode(buf.bytes, len, &dst.u.in, sizeof(dst.u.in), "abc", 3, &e) == 1, "decode");
  CHECK(e.err == ECONNREFUSED && e.origin == DS_ERRQ_ICMP && e.type == 3 && e.code == 3,
        "fields %d %d %d %d", e.err, e.origin, e.type, e.code);
  CHECK(e.has_offender && e.has_addr && e.port == 4242 && e.len == 3 &&
        memcmp(e.data, "abc", 3) == 0, "offender, addr, data");
  ds_ntop(&e.offender, text);
  CHECK(str_eq(text, "127.0.0.2"), "offender %s", text);
  /* An offender cut short is none; the error itself still decodes. */
  len = errq_message(&buf, &ee, &off.u.in, sizeof(off.u.in), DS_CMSG_LEN(sizeof(ee) + 4));
  CHECK(ds_errq_decode(buf.bytes, len, NULL, 0, NULL, 0, &e) == 1 && !e.has_offender &&
        !e.has_addr, "cut offender");
  /* A local error: no offender (AF_UNSPEC). */
  ee.ee_origin = DS_ERRQ_LOCAL;
  ee.ee_errno = EMSGSIZE;
  ee.ee_info = 1280;
  memset(&off, 0, sizeof(off));
  len = errq_message(&buf, &ee, &off.u.in6, sizeof(off.u.in6), 0);
  CHECK(ds_errq_decode(buf.bytes, len, NULL, 0, NULL, 0, &e) == 1 && !e.has_offender &&
        e.info == 1280 && e.origin == DS_ERRQ_LOCAL, "local");
  /* Shorter than sock_extended_err, or another message: no error. */
  len = errq_message(&buf, &ee, NULL, 0, DS_CMSG_LEN(sizeof(ee) - 1));
  CHECK(ds_errq_decode(buf.bytes, len, NULL, 0, NULL, 0, &e) == 0, "short ee");
  CHECK(ds_errq_decode(NULL, 0, NULL, 0, NULL, 0, &e) == 0, "empty");
  /* More data than an entry keeps is cut at DS_ERRQ_DATA. */
  {
    static char big[DS_ERRQ_DATA + 100];
    len = errq_message(&buf, &ee, NULL, 0, 0);
    CHECK(ds_errq_decode(buf.bytes, len, NULL, 0, big, sizeof(big), &e) == 1 &&
          e.len == DS_ERRQ_DATA, "data cut at %u", (unsigned)e.len);
  }
#endif
}

static void test_errq_fifo(void) {
  ds_errq *q = ds_errq_new(ds_test_alloc, NULL);
  ds_errq_entry e, out;
  int i;
  CHECK(q != NULL, "new");
  if (!q) return;
  CHECK(ds_errq_pop(q, &out) == 0 && ds_errq_count(q) == 0, "empty pop");
  memset(&e, 0, sizeof(e));
  for (i = 1; i <= DS_ERRQ_MAX + 6; i++) {
    e.err = i;
    e.len = (size_t)i; /* kept that long */
    memset(e.data, i, e.len);
    ds_errq_push(q, &e);
  }
  CHECK(ds_errq_count(q) == DS_ERRQ_MAX, "bounded: %u", ds_errq_count(q));
  CHECK(ds_errq_pop(q, &out) == 1 && out.err == 7 && out.lost == 6 && out.len == 7 &&
        out.data[6] == 7, "oldest kept %d lost %lu", out.err, out.lost);
  CHECK(ds_errq_pop(q, &out) == 1 && out.err == 8 && out.lost == 0, "next %d", out.err);
  ds_errq_free(q); /* with entries left: make check-valgrind sees none leak */
  ds_errq_free(NULL);
}


/* local sockets: the path codec, both ways, and its refusals */
static void roundtrip_unix(const char *text, size_t len, socklen_t want_len) {
  ds_sockaddr sa;
  char out[DS_UNIX_PATH_MAX + 2];
  size_t n;
  CHECK(ds_unix_to_sockaddr(text, len, &sa) == DS_PATH_OK, "'%s' refused", text);
  CHECK(sa.len == want_len, "'%s' length %u, want %u", text, (unsigned)sa.len, (unsigned)want_len);
  n = ds_sockaddr_to_unix(&sa, out);
  CHECK(n == len && memcmp(out, text, len) == 0, "'%s' does not come back", text);
}

static void test_unix_paths(void) {
  size_t off = offsetof(struct sockaddr_un, sun_path);
  char longest[DS_UNIX_PATH_MAX + 3];
  ds_sockaddr sa;
  char out[DS_UNIX_PATH_MAX + 2];
  CHECK(DS_UNIX_PATH_MAX == 107 || DS_UNIX_PATH_MAX == 103, "path max %u", (unsigned)DS_UNIX_PATH_MAX);
  roundtrip_unix("/tmp/x.sock", 11, (socklen_t)(off + 12));
  roundtrip_unix("@name", 5, (socklen_t)(off + 5));
  roundtrip_unix("@a\0b", 4, (socklen_t)(off + 4)); /* abstract names may hold NULs */
  memset(longest, 'p', sizeof(longest));
  roundtrip_unix(longest, DS_UNIX_PATH_MAX, (socklen_t)(off + DS_UNIX_PATH_MAX + 1));
  longest[0] = '@';
  roundtrip_unix(longest, DS_UNIX_PATH_MAX + 1, (socklen_t)(off + DS_UNIX_PATH_MAX + 1));
  CHECK(ds_unix_to_sockaddr(longest, DS_UNIX_PATH_MAX + 2, &sa) == DS_PATH_LONG, "abstract too long");
  longest[0] = 'p';
  CHECK(ds_unix_to_sockaddr(longest, DS_UNIX_PATH_MAX + 1, &sa) == DS_PATH_LONG, "path too long");
  CHECK(ds_unix_to_sockaddr("a\0b", 3, &sa) == DS_PATH_NUL, "a NUL in a path");
  CHECK(ds_unix_to_sockaddr("", 0, &sa) == DS_PATH_EMPTY, "an empty path");
  CHECK(ds_unix_to_sockaddr("@", 1, &sa) == DS_PATH_OK && sa.len == sizeof(sa_family_t),
        "'@' asks for autobind");
  sa.len = (socklen_t)sizeof(sa_family_t); /* what the kernel gives an unnamed socket */
  CHECK(ds_sockaddr_to_unix(&sa, out) == 0, "unnamed is empty text");
}

/* local sockets off Linux (no abstract names) and the leading-NUL cases
** of both answers, with synthetic addresses as kernels give them. */
static void test_unix_abstract(void) {
  size_t off = offsetof(struct sockaddr_un, sun_path);
  struct sockaddr_un *un;
  ds_sockaddr sa;
  char out[DS_UNIX_PATH_MAX + 2];
  CHECK(ds_unix_to_sockaddr_as("@name", 5, &sa, 0) == DS_PATH_NOABSTRACT, "'@name' without abstract names");
  CHECK(ds_unix_to_sockaddr_as("@", 1, &sa, 0) == DS_PATH_NOABSTRACT, "'@' (autobind) without abstract names");
  CHECK(ds_unix_to_sockaddr_as("/p", 2, &sa, 0) == DS_PATH_OK, "a path without abstract names");
  CHECK(ds_unix_to_sockaddr_as("", 0, &sa, 0) == DS_PATH_EMPTY, "empty without abstract names");
  CHECK(ds_unix_to_sockaddr_as("@name", 5, &sa, 1) == DS_PATH_OK, "'@name' with abstract names");
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 0) == 0, "an abstract address without abstract names is unnamed");
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 1) == 5 && memcmp(out, "@name", 5) == 0, "abstract with");
  /* a BSD unnamed socket: the whole sun_path zeroed, its full length given */
  memset(&sa, 0, sizeof(sa));
  un = (struct sockaddr_un *)&sa.u.ss;
  un->sun_family = AF_UNIX;
  sa.len = (socklen_t)sizeof(*un);
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 0) == 0, "a zeroed sun_path without abstract names is unnamed");
  /* a leading NUL and no byte after it: no abstract name, either way */
  sa.len = (socklen_t)(off + 1);
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 1) == 0, "a lone NUL with abstract names is unnamed");
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 0) == 0, "a lone NUL without abstract names is unnamed");
  sa.len = (socklen_t)off; /* no sun_path at all */
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 1) == 0 && ds_sockaddr_to_unix_as(&sa, out, 0) == 0, "no path");
  /* a path reads the same either way */
  memcpy(un->sun_path, "/x", 3);
  sa.len = (socklen_t)sizeof(*un);
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 0) == 2 && memcmp(out, "/x", 2) == 0, "path without");
  CHECK(ds_sockaddr_to_unix_as(&sa, out, 1) == 2 && memcmp(out, "/x", 2) == 0, "path with");
#if defined(__linux__)
  CHECK(ds_unix_to_sockaddr("@n", 2, &sa) == DS_PATH_OK, "Linux has abstract names");
#endif
}

/* ICMP sockets (issue 17): the raw IPv4 header's length, checked against
** the packet; anything else is dropped (-1). */
static void test_icmp_ipv4_header(void) {
  unsigned char p[64] = {0x45};
  CHECK(ds_icmp_ipv4_header(p, 28) == 20, "IHL 5 in 28 bytes");
  CHECK(ds_icmp_ipv4_header(p, 20) == 20, "IHL 5, header only");
  CHECK(ds_icmp_ipv4_header(p, 19) == -1, "shorter than 20 bytes");
  p[0] = 0x4f;
  CHECK(ds_icmp_ipv4_header(p, 64) == 60, "IHL 15 in 64 bytes");
  CHECK(ds_icmp_ipv4_header(p, 59) == -1, "IHL 15 longer than the packet");
  p[0] = 0x44;
  CHECK(ds_icmp_ipv4_header(p, 64) == -1, "IHL 4 below the minimum");
  p[0] = 0x65;
  CHECK(ds_icmp_ipv4_header(p, 64) == -1, "version 6");
}

/* Descriptor passing (issue 17): a control message that claims more
** descriptors than the buffer holds gives only those it holds (none past
** the end is taken, or closed); those past the room are closed. */
static void test_rights_bounds(void) {
  union {
    struct cmsghdr align;
    unsigned char bytes[CMSG_SPACE(4 * sizeof(int))];
  } ctl;
  int p[2], q[2], fds[4], out[16], dropped = 0, d;
  ds_msghdr mh;
  ds_iov iov;
  unsigned got;
  CHECK(pipe(p) == 0 && pipe(q) == 0, "pipes");
  fds[0] = p[0], fds[1] = p[1], fds[2] = q[0], fds[3] = q[1];
  memset(&ctl, 0, sizeof(ctl));
  CHECK(ds_sys_rights_put(ctl.bytes, fds, 4) == CMSG_SPACE(4 * sizeof(int)), "put 4");
  ds_msg_set(&mh, NULL, 0, &iov, NULL, 0, ctl.bytes, CMSG_SPACE(2 * sizeof(int))); /* holds 2 */
  got = ds_sys_rights_take(&mh, out, 16, &dropped);
  CHECK(got == 2 && out[0] == p[0] && out[1] == p[1] && !dropped, "took %u past the end", got);
  CHECK(fcntl(q[0], F_GETFD) >= 0 && fcntl(q[1], F_GETFD) >= 0, "a descriptor past the end closed");
  d = dup(q[0]);
  fds[1] = d;
  CHECK(ds_sys_rights_put(ctl.bytes, fds, 2) == CMSG_SPACE(2 * sizeof(int)), "put 2");
  ds_msg_set(&mh, NULL, 0, &iov, NULL, 0, ctl.bytes, CMSG_SPACE(2 * sizeof(int)));
  got = ds_sys_rights_take(&mh, out, 1, &dropped);
  CHECK(got == 1 && out[0] == p[0] && dropped, "past the room: got %u, dropped %d", got, dropped);
  CHECK(fcntl(d, F_GETFD) < 0, "the one past the room left open");
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
}

/* Local sockets (issue 17): naps end at the deadline, never before it,
** each short; a zero timeout times out at once. */
static void test_nap(void) {
  double deadline = DS_DEADLINE_UNSET, t0 = ds_now();
  int naps = 0, err;
  CHECK(ds_nap(0, &deadline) == ETIMEDOUT, "zero timeout");
  deadline = DS_DEADLINE_UNSET;
  while ((err = ds_nap(0.1, &deadline)) == 0) naps++;
  CHECK(err == ETIMEDOUT && ds_now() - t0 >= 0.099 && ds_now() - t0 < 0.5, "%.3f s", ds_now() - t0);
  CHECK(naps >= 2 && naps <= 12, "%d naps of at most 10 ms", naps);
}

int main(void) {
  test_pton_ntop();
  test_map_unmap();
  test_sockaddr();
  test_cmsg();
  test_cmsg_header_zeroed();
  test_cmsg_byte_payloads();
  test_errors();
  test_deadline();
  test_wait();
  test_wait_ready();
  test_deadline_passed();
  test_probe();
  test_make_socket();
  test_loopback_datagram();
  test_interfaces();
  test_inspect_adopt();
  test_disconnect();
  test_realtime();
  test_errq_decode(); /* recverr (issue 17) */
  test_errq_fifo();
  test_unix_paths();
  test_unix_abstract();
  test_icmp_ipv4_header(); /* issue 17 */
  test_rights_bounds();
  test_nap();
  if (failures) {
    fprintf(stderr, "core_test: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("core_test: %d checks passed\n", checks);
  return 0;
}
