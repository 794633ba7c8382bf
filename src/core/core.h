/*
** dualstack core: the plain C under the Lua bindings. No Lua header is
** included anywhere in src/core/ or src/sys/, so the fuzzers (fuzz/) and
** the unit tests (test/) link these files alone, without liblua.
** Each file owns one concern: addr.c (address text and sockaddrs),
** cmsg.c (the control-message codec), errors.c (the errno table),
** wait.c (waiting and deadlines), net.c (family probes and the socket
** set-up the bindings share). All system calls go through the
** platform backend, ../sys/sys.h, which also holds the platform spellings.
*/
#ifndef DS_CORE_H
#define DS_CORE_H

#include "../sys/sys.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Internal to the module, as ds.h's declarations: hidden, so calls
** between its files are direct rather than through the PLT. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Receive options that add control messages: they size the control buffer. */
enum {
  DS_RECV_PKTINFO = 1 << 0,
  DS_RECV_HOPLIMIT = 1 << 1,
  DS_RECV_TCLASS = 1 << 2,
  DS_RECV_TIMESTAMP = 1 << 3,
  DS_RECV_GRO = 1 << 4,
  DS_RECV_GUARD = 1 << 5, /* the IPv4 arrival marker (options.c) */
  /* Those with an IPv4-level message: each marks IPv4 arrival itself. */
  DS_RECV_IPV4 = DS_RECV_PKTINFO | DS_RECV_HOPLIMIT | DS_RECV_TCLASS
};

/* An IP address in binary form, as parsed from or formatted to text. */
typedef struct ds_ip {
  int af;                 /* AF_INET or AF_INET6 */
  unsigned char bytes[16];/* 4 or 16 used */
  uint32_t scope;         /* IPv6 zone (interface index), 0 when none */
} ds_ip;

/* Longest text ds_ntop writes: IPv6, '%', an interface name, NUL. */
#define DS_ADDRSTRLEN (INET6_ADDRSTRLEN + 1 + IF_NAMESIZE + 1)

typedef struct ds_sockaddr {
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
  } u;
  socklen_t len;
} ds_sockaddr;

/* Control data of one datagram: what arrived with it, or what to send
** with it. Plain C so the decoder can be fuzzed. */
enum {
  DS_CTL_ADDR = 1 << 0,     /* received: destination; sent: source */
  DS_CTL_IFINDEX = 1 << 1,
  DS_CTL_HOPLIMIT = 1 << 2,
  DS_CTL_TCLASS = 1 << 3,   /* the whole TOS / traffic class byte */
  DS_CTL_TIMESTAMP = 1 << 4,
  DS_CTL_SEGMENT = 1 << 5,  /* UDP GSO/GRO segment size */
  DS_CTL_BROADCAST = 1 << 6,/* received: sent to a broadcast address */
  DS_CTL_ALL = (DS_CTL_BROADCAST << 1) - 1
};

typedef struct ds_ctl {
  unsigned have; /* DS_CTL_* fields set */
  int ipv4;      /* received: an IPv4-level message came, so it came over IPv4 */
  ds_ip addr;              /* for a broadcast, the local address to answer from */
  ds_ip broadcast;         /* the broadcast address it was sent to */
  unsigned ifindex;
  int hoplimit;
  int tclass;
  int segment;
  double timestamp; /* seconds since the epoch */
} ds_ctl;

/* Room for every control message this module enables, on both families. */
#define DS_CMSG_MAX 320

typedef union ds_cmsgbuf {
  ds_cmsghdr align;
  char bytes[DS_CMSG_MAX];
} ds_cmsgbuf;

/* errors.c: the errno table. */
int ds_err_as_seen(int err);
const char *ds_errname_known(int err);
const char *ds_errmessage(int err);
const char *ds_gai_errname(int code);
const char *ds_gai_message(int code);

/* addr.c */
const char *ds_pton(const char *text, size_t len, ds_ip *ip);
size_t ds_ntop(const ds_ip *ip, char *out);
void ds_ip_map(ds_ip *ip);
void ds_ip_unmap(ds_ip *ip);
void ds_ip_to_sockaddr(const ds_ip *ip, int port, ds_sockaddr *sa);
int ds_sockaddr_to_ip(const struct sockaddr *sa, ds_ip *ip);

/* ::ffff:0:0/96. Inline, as ds_ip_equal: the send and receive paths ask
** several times per datagram. */
static inline int ds_ip_is_mapped(const ds_ip *ip) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip->af == AF_INET6 && memcmp(ip->bytes, prefix, 12) == 0;
}

/* Only the bytes of the family count: an IPv4 address leaves 12 unset.
** Inline: the receive path compares two addresses per datagram. */
static inline int ds_ip_equal(const ds_ip *a, const ds_ip *b) {
  if (a->af != b->af || a->scope != b->scope) return 0;
  return a->af == AF_INET ? memcmp(a->bytes, b->bytes, 4) == 0 /* constant sizes: inlined */
                          : memcmp(a->bytes, b->bytes, 16) == 0;
}

/* cmsg.c */
size_t ds_cmsg_space(unsigned recvopts);
void ds_cmsg_decode(const void *control, size_t len, ds_ctl *out);
size_t ds_cmsg_encode(void *control, size_t cap, const ds_ctl *in, int ipv4);

/* wait.c: waiting and deadlines. A deadline is a ds_now() time, negative
** for none; DS_DEADLINE_UNSET until a call's first wait computes it. */
#define DS_DEADLINE_UNSET (-2.0)
double ds_now(void);
double ds_deadline(double timeout);
int ds_poll(ds_pollfd *p, unsigned n, double deadline);
int ds_wait(ds_fd fd, short events, double deadline);
int ds_wait_ready(ds_fd fd, short events, double timeout, double *deadline);
int ds_deadline_passed(double timeout, double *deadline);
/* recverr (issue 17): ds_wait_ready that also reports what woke it. */
int ds_wait_ready_ev(ds_fd fd, short events, double timeout, double *deadline, short *revents);
/* local sockets (issue 17): a short sleep within the deadline, for a wait no event ends. */
int ds_nap(double timeout, double *deadline);

/* net.c. What a probe found: the family (or dual-stack) works, is
** absent, or the probe could not tell (*err says why). */
enum { DS_PROBE_ERROR = -1, DS_PROBE_ABSENT = 0, DS_PROBE_PRESENT = 1 };
int ds_probe(int af, int dual, int *err);
int ds_set_v6only(ds_fd fd, int on);
int ds_ipv4_option_error(int err);
int ds_guard_ipv4(ds_fd fd, int on);
ds_fd ds_make_socket(int af, int type, int v6only, int *err);
int ds_pending_error(ds_fd fd);
/* What a descriptor made elsewhere is (ds_inspect), and its set-up as a
** socket of ours (ds_adopt). */
typedef struct ds_fdinfo {
  int type;   /* SO_TYPE */
  int af;     /* AF_INET, AF_INET6 or AF_UNIX */
  int v6only; /* AF_INET6: IPV6_V6ONLY */
  int bound;  /* it has a port, or a peer */
  int proto;  /* an ICMP socket (SOCK_DGRAM or SOCK_RAW): IPPROTO_ICMP or IPPROTO_ICMPV6; else 0 */
} ds_fdinfo;
int ds_inspect(ds_fd fd, ds_fdinfo *info);
int ds_adopt(ds_fd fd, const ds_fdinfo *info);
int ds_adopt_shared(ds_fd fd, const ds_fdinfo *info); /* descriptor passing */
unsigned ds_ifindex_of_addr(const ds_ip *ip);

/* errq.c: ICMP errors on UDP (recverr, issue 17). A decoded error-queue
** message; the FIFO of them a socket keeps (at most DS_ERRQ_MAX, data cut
** at DS_ERRQ_DATA bytes); allocation through the given allocator, Lua's
** signature (ud, ptr, osize, nsize). */
#define DS_ERRQ_MAX 64
#define DS_ERRQ_DATA 1280
enum { DS_ERRQ_NONE, DS_ERRQ_LOCAL, DS_ERRQ_ICMP, DS_ERRQ_ICMP6 }; /* SO_EE_ORIGIN_* */
enum { DS_ERRQ_MOVED = 1, DS_ERRQ_MOVED_NET = 2 };
typedef struct ds_errq_entry {
  int err;              /* errno value */
  int origin;           /* DS_ERRQ_* */
  int type, code;       /* ICMP type and code; 0 for local */
  unsigned long info;   /* the MTU for EMSGSIZE */
  int has_offender, has_addr;
  ds_ip offender, addr; /* who reported it; the original destination */
  int port;
  unsigned long lost;   /* set by ds_errq_pop */
  size_t len;
  unsigned char data[DS_ERRQ_DATA]; /* last: entries are kept len bytes long */
} ds_errq_entry;
typedef void *(*ds_errq_alloc)(void *ud, void *ptr, size_t osize, size_t nsize);
typedef struct ds_errq ds_errq;
ds_errq *ds_errq_new(ds_errq_alloc alloc, void *ud);
void ds_errq_free(ds_errq *q);
unsigned ds_errq_count(const ds_errq *q);
void ds_errq_push(ds_errq *q, const ds_errq_entry *e);
int ds_errq_pop(ds_errq *q, ds_errq_entry *out);
int ds_errq_decode(const void *control, size_t len, const void *name, size_t namelen,
                   const void *data, size_t datalen, ds_errq_entry *out);
int ds_errq_drain(ds_fd fd, ds_errq *q);
int ds_errq_keep_pending(ds_fd fd, ds_errq *q);
/* unix.c: local socket paths (AF_UNIX) as text: a file path, "@name" for
** a Linux abstract name, "" for an unnamed socket. DS_UNIX_PATH_MAX is the
** longest text a name takes (one byte of sun_path is its NUL or the
** abstract marker). */
#define DS_UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
enum { DS_PATH_OK = 0, DS_PATH_LONG, DS_PATH_NUL, DS_PATH_EMPTY };
int ds_unix_to_sockaddr(const char *text, size_t len, ds_sockaddr *sa);
size_t ds_sockaddr_to_unix(const ds_sockaddr *sa, char out[DS_UNIX_PATH_MAX + 2]);
/* local sockets off Linux: the two above are these with the platform's
** answer to "abstract names?" (DS_HAVE_ABSTRACT_UNIX); without, "@..." is
** DS_PATH_NOABSTRACT (EAFNOSUPPORT to the caller) and a sun_path with a
** leading NUL is unnamed. core_test runs both answers. */
enum { DS_PATH_NOABSTRACT = DS_PATH_EMPTY + 1 };
int ds_unix_to_sockaddr_as(const char *text, size_t len, ds_sockaddr *sa, int has_abstract);
size_t ds_sockaddr_to_unix_as(const ds_sockaddr *sa, char out[DS_UNIX_PATH_MAX + 2], int has_abstract);
/* icmp.c: ICMP sockets (issue 17). mode: which kinds may be made. */
enum { DS_ICMP_ANY = -1, DS_ICMP_DGRAM = 0, DS_ICMP_RAW = 1 };
ds_fd ds_make_icmp(int af, int mode, int *raw, int *err);
int ds_icmp_denied(int err);
long ds_icmp_ipv4_header(const unsigned char *p, size_t n);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
