/*
** bench: the raw C contender, the baseline the others are held to.
** It does what a careful C server does with the kernel's API and
** nothing more: one dual-stack socket, recvmsg/sendmsg with pktinfo,
** recvmmsg for batches, plain read/write on TCP.
**
** Usage: c_contender [copy] MODE N   (the peer appends MODE and N)
**   echo N    answer N datagrams from the address each was sent to
**   sink N    drain N datagrams with recvmsg, decoding pktinfo and
**             reading each payload (a checksum, as a server reads data)
**   mmsg N    drain N datagrams with recvmmsg (64 at a time), same
**   tcp-in N  accept one connection, read to EOF (N unused)
**   tcp-out N accept one connection, write N bytes, close
** Variant "copy" makes tcp-in copy each read into freshly allocated
** memory and free it: the least a Lua binding must do to return the read
** as a new string (Lua 5.4 cannot adopt a buffer as a string). It is the
** reference that shows what that one copy costs, not a contender.
** Protocol with the peer, on stdout: "ready PID PORT FD" once the
** socket is bound, "done COUNT DST [BYTES [SUM]]" when the work is
** complete (the drains give the payload bytes read and their checksum,
** which the peer checks); then it waits for EOF on stdin, so the peer can
** still read its counters.
*/
#define _GNU_SOURCE /* recvmmsg, struct in6_pktinfo */
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 64

/* Room for both pktinfo messages: Linux delivers IP_PKTINFO and a mapped
** IPV6_PKTINFO for an IPv4 datagram when both options are on. */
#define CTL_SPACE (CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(struct in6_pktinfo)))

/* One receive slot: the kernel overwrites msg_namelen and
** msg_controllen, so rx_reset runs before every call. */
typedef struct rx {
  struct msghdr mh;
  struct iovec iov;
  struct sockaddr_in6 from;
  union {
    char buf[CTL_SPACE];
    struct cmsghdr align;
  } ctl;
  char data[BENCH_UDP_MAX];
} rx;

static void rx_reset(rx *r) {
  r->iov.iov_base = r->data;
  r->iov.iov_len = sizeof(r->data);
  r->mh.msg_name = &r->from;
  r->mh.msg_namelen = sizeof(r->from);
  r->mh.msg_iov = &r->iov;
  r->mh.msg_iovlen = 1;
  r->mh.msg_control = r->ctl.buf;
  r->mh.msg_controllen = sizeof(r->ctl.buf);
  r->mh.msg_flags = 0;
}

/* The destination address of a received datagram (mapped for IPv4). */
static struct in6_pktinfo rx_dst(struct msghdr *mh) {
  struct cmsghdr *c;
  struct in6_pktinfo pi;
  for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      return pi;
    }
  die("datagram without IPV6_PKTINFO");
}

static void set_int(int fd, int level, int name, int value, const char *what) {
  check(setsockopt(fd, level, name, &value, sizeof(value)) == 0, what);
}

/* AF_INET6 bound to [::]:0 with V6ONLY off: one socket for both families. */
static int dual_socket(int type) {
  struct sockaddr_in6 any;
  int fd = socket(AF_INET6, type, 0);
  check(fd >= 0, "socket");
  set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY");
  memset(&any, 0, sizeof(any));
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  check(bind(fd, (struct sockaddr *)&any, sizeof(any)) == 0, "bind");
  return fd;
}

static int udp_socket(void) {
  int fd = dual_socket(SOCK_DGRAM);
  set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
  set_int(fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
  return fd;
}

static void ready(int fd) {
  struct sockaddr_in6 me;
  socklen_t len = sizeof(me);
  check(getsockname(fd, (struct sockaddr *)&me, &len) == 0, "getsockname");
  printf("ready %d %u %d\n", (int)getpid(), addr_port((struct sockaddr *)&me), fd);
  fflush(stdout);
}

/* What the drains read of the payloads: the byte count and checksum. */
typedef struct payload {
  long long bytes;
  uint64_t sum;
} payload;

/* Reads every byte of a payload, as a server must to use it (see
** bench_payload_sum); the peer knows the payloads and checks the totals. */
static void payload_add(payload *p, const char *data, size_t len) {
  p->bytes += (long long)len;
  p->sum += bench_payload_sum(data, len);
}

static void say_done(long long count, const struct in6_addr *dst, const payload *p) {
  char text[INET6_ADDRSTRLEN] = "-";
  char buf[64];
  if (dst) inet_ntop(AF_INET6, dst, text, sizeof(text));
  if (p) printf("done %lld %s %lld %llu\n", count, text, p->bytes, (unsigned long long)p->sum);
  else printf("done %lld %s\n", count, text);
  fflush(stdout);
  while (read(0, buf, sizeof(buf)) > 0) {
  }
}

static void done(long long count, const struct in6_addr *dst) {
  say_done(count, dst, NULL);
}

/* The reply's control message, built once: only the address changes. */
typedef struct tx {
  struct msghdr mh;
  struct iovec iov;
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } ctl;
} tx;

static void tx_init(tx *t) {
  struct cmsghdr *c;
  memset(t, 0, sizeof(*t));
  t->mh.msg_iov = &t->iov;
  t->mh.msg_iovlen = 1;
  t->mh.msg_control = t->ctl.buf;
  t->mh.msg_controllen = sizeof(t->ctl.buf);
  c = CMSG_FIRSTHDR(&t->mh);
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
}

/* Sends r's data back to its sender from the address it was sent to
** (ifindex 0: the route decides, as dualstack's reply does off link-local). */
static void reply(int fd, tx *t, rx *r, size_t len) {
  struct in6_pktinfo src = rx_dst(&r->mh);
  src.ipi6_ifindex = 0;
  memcpy(CMSG_DATA(CMSG_FIRSTHDR(&t->mh)), &src, sizeof(src));
  t->mh.msg_name = r->mh.msg_name;
  t->mh.msg_namelen = r->mh.msg_namelen;
  t->iov.iov_base = r->data;
  t->iov.iov_len = len;
  check(sendmsg(fd, &t->mh, 0) == (ssize_t)len, "sendmsg");
}

static void echo(long long n) {
  int fd = udp_socket();
  static rx r;
  tx t;
  long long i;
  tx_init(&t);
  ready(fd);
  for (i = 0; i < n; i++) {
    ssize_t len;
    rx_reset(&r);
    len = recvmsg(fd, &r.mh, 0);
    check(len >= 0, "recvmsg");
    reply(fd, &t, &r, (size_t)len);
  }
  done(n, NULL);
}

static void sink(long long n) {
  int fd = udp_socket();
  static rx r;
  struct in6_pktinfo dst;
  payload p = {0, 0};
  long long got;
  memset(&dst, 0, sizeof(dst));
  ready(fd);
  for (got = 0; got < n; got++) {
    ssize_t len;
    rx_reset(&r);
    len = recvmsg(fd, &r.mh, 0);
    check(len >= 0, "recvmsg");
    dst = rx_dst(&r.mh);
    payload_add(&p, r.data, (size_t)len);
  }
  say_done(got, n ? &dst.ipi6_addr : NULL, &p);
}

static void sink_mmsg(long long n) {
  int fd = udp_socket();
  static rx r[BATCH];
  static struct mmsghdr v[BATCH];
  struct in6_pktinfo dst;
  payload p = {0, 0};
  long long got = 0;
  memset(&dst, 0, sizeof(dst));
  ready(fd);
  while (got < n) {
    int i, k;
    for (i = 0; i < BATCH; i++) {
      rx_reset(&r[i]);
      v[i].msg_hdr = r[i].mh;
    }
    k = recvmmsg(fd, v, BATCH, MSG_WAITFORONE, NULL);
    check(k > 0, "recvmmsg");
    for (i = 0; i < k; i++) {
      dst = rx_dst(&v[i].msg_hdr);
      payload_add(&p, r[i].data, v[i].msg_len);
    }
    got += k;
  }
  say_done(got, n ? &dst.ipi6_addr : NULL, &p);
}

static int accept_one(void) {
  int l = dual_socket(SOCK_STREAM), c;
  check(listen(l, 1) == 0, "listen");
  ready(l);
  c = accept(l, NULL, NULL);
  check(c >= 0, "accept");
  close(l);
  return c;
}

/* What lua_pushlstring does with a read: new memory, one copy (the
** collector frees it later; here it is freed at once, the cheapest case). */
static void copy_once(const char *data, size_t len) {
  char *copy = malloc(len);
  check(copy != NULL, "malloc");
  memcpy(copy, data, len);
  /* The copy escapes to code the compiler cannot see: without this, it
  ** drops malloc, memcpy and free as a whole, since nothing reads the copy. */
  __asm__ __volatile__("" : : "r"(copy) : "memory");
  free(copy);
}

static void tcp_in(int copy_each_read) {
  static char buf[BENCH_CHUNK];
  int c = accept_one();
  long long total = 0;
  ssize_t n;
  while ((n = read(c, buf, sizeof(buf))) > 0) {
    if (copy_each_read) copy_once(buf, (size_t)n);
    total += n;
  }
  check(n == 0, "read");
  close(c);
  done(total, NULL);
}

static void tcp_out(long long bytes) {
  static char buf[BENCH_CHUNK];
  int c = accept_one();
  long long left;
  memset(buf, 'x', sizeof(buf));
  for (left = bytes; left >= BENCH_CHUNK; left -= BENCH_CHUNK) write_all(c, buf, sizeof(buf));
  write_all(c, buf, (size_t)left);
  close(c);
  done(bytes, NULL);
}

int main(int argc, char **argv) {
  const char *mode;
  int copy = argc == 4; /* the one variant */
  long long n;
  if (argc != 3 && argc != 4) die("usage: c_contender [copy] echo|sink|mmsg|tcp-in|tcp-out N");
  mode = argv[argc - 2];
  n = parse_count(argv[argc - 1], "count");
  if (copy && (strcmp(argv[1], "copy") || strcmp(mode, "tcp-in")))
    die("variant '%s' for %s: the only variant is copy, for tcp-in", argv[1], mode);
  if (!strcmp(mode, "echo")) echo(n);
  else if (!strcmp(mode, "sink")) sink(n);
  else if (!strcmp(mode, "mmsg")) sink_mmsg(n);
  else if (!strcmp(mode, "tcp-in")) tcp_in(copy);
  else if (!strcmp(mode, "tcp-out")) tcp_out(n);
  else die("unknown mode '%s'", mode);
  return 0;
}
