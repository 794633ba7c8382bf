/*
** ICMP errors on UDP (recverr), no Lua: the decoder of one MSG_ERRQUEUE
** message, the socket's bounded FIFO of decoded errors, and the drain that
** moves the kernel's queue into it. The FIFO exists because the kernel's
** queue keeps POLLERR up until it is read: a receive or send that meets an
** asynchronous error reads it all here (the no-spin rule, object.c), and
** sock:recverr() hands the entries out later.
*/
#include "core.h"

/* An entry with len data bytes: the struct up to its data, then those. */
#define ENTRY_SIZE(len) (offsetof(ds_errq_entry, data) + (len))

struct ds_errq {
  ds_errq_alloc alloc; /* the Lua state's allocator: no collection step */
  void *ud;
  ds_errq_entry *ring[DS_ERRQ_MAX];
  unsigned head, count;
  unsigned long lost; /* dropped since the last pop */
};

ds_errq *ds_errq_new(ds_errq_alloc alloc, void *ud) {
  ds_errq *q = (ds_errq *)alloc(ud, NULL, 0, sizeof(ds_errq));
  if (!q) return NULL;
  q->alloc = alloc;
  q->ud = ud;
  q->head = q->count = 0;
  q->lost = 0;
  return q;
}

static void free_entry(ds_errq *q, ds_errq_entry *e) {
  q->alloc(q->ud, e, ENTRY_SIZE(e->len), 0);
}

void ds_errq_free(ds_errq *q) {
  if (!q) return;
  while (q->count) {
    free_entry(q, q->ring[q->head]);
    q->head = (q->head + 1) % DS_ERRQ_MAX;
    q->count--;
  }
  q->alloc(q->ud, q, sizeof(ds_errq), 0);
}

unsigned ds_errq_count(const ds_errq *q) {
  return q ? q->count : 0;
}

/* Keeps a copy of e; the oldest entry goes when the FIFO is full, and an
** entry memory cannot be found for is dropped: both count in lost. */
void ds_errq_push(ds_errq *q, const ds_errq_entry *e) {
  size_t len = e->len > DS_ERRQ_DATA ? DS_ERRQ_DATA : e->len;
  ds_errq_entry *copy;
  if (q->count == DS_ERRQ_MAX) {
    free_entry(q, q->ring[q->head]);
    q->head = (q->head + 1) % DS_ERRQ_MAX;
    q->count--;
    q->lost++;
  }
  if ((copy = (ds_errq_entry *)q->alloc(q->ud, NULL, 0, ENTRY_SIZE(len))) == NULL) {
    q->lost++;
    return;
  }
  memcpy(copy, e, ENTRY_SIZE(len));
  copy->len = len;
  q->ring[(q->head + q->count) % DS_ERRQ_MAX] = copy;
  q->count++;
}

/* The oldest entry into out (1), or 0 when there is none. out->lost is
** what was dropped before it since the last pop. */
int ds_errq_pop(ds_errq *q, ds_errq_entry *out) {
  ds_errq_entry *e;
  if (!q || q->count == 0) return 0;
  e = q->ring[q->head];
  q->head = (q->head + 1) % DS_ERRQ_MAX;
  q->count--;
  memcpy(out, e, ENTRY_SIZE(e->len));
  out->lost = q->lost;
  q->lost = 0;
  free_entry(q, e);
  return 1;
}

/* An address of the kernel's: at most have bytes at p, copied out first
** (p need not be aligned). 1 with ip and *port when it is a whole
** sockaddr_in or sockaddr_in6. */
static int read_address(const void *p, size_t have, ds_ip *ip, int *port) {
  ds_sockaddr sa;
  size_t need;
  int got;
  if (!p || have < sizeof(struct sockaddr_in)) return 0; /* the smaller of the two */
  memset(&sa, 0, sizeof(sa));
  memcpy(&sa.u, p, have < sizeof(sa.u) ? have : sizeof(sa.u));
  if (sa.u.sa.sa_family == AF_INET) need = sizeof(struct sockaddr_in);
  else if (sa.u.sa.sa_family == AF_INET6) need = sizeof(struct sockaddr_in6);
  else return 0;
  if (have < need || (got = ds_sockaddr_to_ip(&sa.u.sa, ip)) < 0) return 0;
  if (port) *port = got;
  return 1;
}

/* One error-queue message: its control data (the sock_extended_err at
** IP_RECVERR or IPV6_RECVERR, the offender's address after it), the
** original destination (name) and what was sent (data, kept up to
** DS_ERRQ_DATA bytes). 1 with out filled, 0 when control holds no error. */
int ds_errq_decode(const void *control, size_t len, const void *name, size_t namelen,
                   const void *data, size_t datalen, ds_errq_entry *out) {
  ds_msghdr mh;
  ds_iov iov;
  ds_cmsghdr *c;
  const char *end;
  memset(out, 0, offsetof(ds_errq_entry, data));
  if (len == 0 || !control) return 0;
  end = (const char *)control + len;
  ds_msg_set(&mh, NULL, 0, &iov, NULL, 0, (void *)control, len);
  for (c = DS_CMSG_FIRSTHDR(&mh); c; c = DS_CMSG_NXTHDR(&mh, c)) {
    size_t avail = (size_t)(end - (const char *)c), after;
    ds_sock_ee ee;
    if (c->cmsg_len < sizeof(ds_cmsghdr)) break; /* as cmsg.c: no endless walk */
    if (c->cmsg_len < avail) avail = c->cmsg_len;
    if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == DS_IP_RECVERR) ||
          (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == DS_IPV6_RECVERR)))
      continue;
    if (avail < DS_CMSG_LEN(sizeof(ee))) continue;
    memcpy(&ee, DS_CMSG_DATA(c), sizeof(ee));
    out->err = (int)ee.ee_errno;
    out->origin = ee.ee_origin <= DS_ERRQ_ICMP6 ? ee.ee_origin : DS_ERRQ_NONE;
    out->type = ee.ee_type;
    out->code = ee.ee_code;
    out->info = ee.ee_info;
    after = avail - DS_CMSG_LEN(sizeof(ee));
    out->has_offender = read_address((const char *)DS_CMSG_DATA(c) + sizeof(ee), after,
                                     &out->offender, NULL);
    out->has_addr = read_address(name, namelen, &out->addr, &out->port);
    out->len = datalen > DS_ERRQ_DATA ? DS_ERRQ_DATA : datalen;
    if (out->len) memcpy(out->data, data, out->len);
    return 1;
  }
  return 0;
}

/* Is origin the network's (an ICMP message came), not this host's? */
static int from_network(int origin) {
  return origin == DS_ERRQ_ICMP || origin == DS_ERRQ_ICMP6;
}

/* Moves fd's error queue into q until the kernel has no more (EAGAIN, or
** any failure). DS_ERRQ_MOVED when an entry moved, DS_ERRQ_MOVED_NET too
** when one came from the network. */
int ds_errq_drain(ds_fd fd, ds_errq *q) {
  int moved = 0;
  for (;;) {
    ds_errq_entry e;
    ds_sockaddr name;
    ds_cmsgbuf ctl;
    ds_msghdr mh;
    ds_iov iov;
    unsigned char data[DS_ERRQ_DATA];
    ssize_t n;
    ds_msg_set(&mh, &name.u, sizeof(name.u), &iov, data, sizeof(data), ctl.bytes,
               sizeof(ctl.bytes));
    if ((n = ds_sys_recv_errqueue(fd, &mh)) < 0) break;
    if (!ds_errq_decode(ds_msg_control(&mh), ds_msg_controllen(&mh), ds_msg_name(&mh),
                        ds_msg_namelen(&mh), data, (size_t)n, &e))
      continue; /* not an error of ours (a timestamp report): nothing to keep */
    ds_errq_push(q, &e);
    moved |= DS_ERRQ_MOVED | (from_network(e.origin) ? DS_ERRQ_MOVED_NET : 0);
  }
  return moved;
}

/* POLLERR with an empty queue: the socket holds an error (sk_err) no entry
** carries (bun#29473). SO_ERROR reads and clears it; kept as origin "none".
** 1 when there was one. */
int ds_errq_keep_pending(ds_fd fd, ds_errq *q) {
  ds_errq_entry e;
  int err = ds_pending_error(fd);
  if (err == 0) return 0;
  memset(&e, 0, offsetof(ds_errq_entry, data));
  e.err = err;
  e.origin = DS_ERRQ_NONE;
  ds_errq_push(q, &e);
  return 1;
}
