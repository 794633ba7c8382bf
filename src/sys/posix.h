/*
** The POSIX backend's header: the types sys.h names (descriptors, message
** headers, poll entries) and every #ifdef about what a POSIX system calls
** a socket feature, so the files above are written once. Built and tested
** on Linux; the BSD and macOS branches record what differs there.
** Included through sys.h only.
*/
#ifndef DS_SYS_POSIX_H
#define DS_SYS_POSIX_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* accept4, recvmmsg, sendmmsg, in6_pktinfo */
#endif

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
/* local sockets (AF_UNIX) */
#include <sys/un.h>
#include <string.h>

#if defined(__linux__)
#include <netinet/udp.h>
#endif

/* local sockets: Linux's abstract names (a sun_path with a leading NUL) */
#if defined(__linux__)
#define DS_HAVE_ABSTRACT_UNIX 1
#endif
/* ICMP sockets: macOS gives a datagram ICMPv4 socket the IPv4 header too,
** as a raw one (icmp(4)); recv.c strips it on both */
#if defined(__APPLE__)
#define DS_ICMP_DGRAM_IPV4_HEADER 1
#endif
/* adopted descriptors: the protocol of a socket (ICMP ones told apart) */
#if defined(SO_PROTOCOL)
#define DS_HAVE_SO_PROTOCOL 1
#endif

/* A descriptor, and the value of none (a closed socket). */
typedef int ds_fd;
#define DS_FD_NONE (-1)
#define DS_FD_MAX INT_MAX /* the largest descriptor a Lua integer may name */

typedef struct pollfd ds_pollfd;
typedef struct iovec ds_iov;
typedef struct msghdr ds_msghdr;

/* What the system has beyond POSIX. DS_FORCE_PORTABLE (make
** check-portable) turns it all off, so the fallbacks are built and tested
** on Linux too. Batched datagram calls: Linux and FreeBSD (NetBSD and
** OpenBSD have them too, not tried yet); elsewhere the backend loops over
** single calls on the same structure. */
#if !defined(DS_FORCE_PORTABLE)
#if defined(SOCK_CLOEXEC)
#define DS_HAVE_SOCK_CLOEXEC 1 /* a descriptor close-on-exec from birth */
#endif
#if defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#define DS_HAVE_ACCEPT4 1
#endif
#if defined(__linux__) || defined(__FreeBSD__)
#define DS_HAVE_MMSG 1
#endif
#endif

#if defined(DS_HAVE_MMSG)
typedef struct mmsghdr ds_mmsghdr;
#else
typedef struct ds_mmsghdr {
  struct msghdr msg_hdr;
  unsigned int msg_len;
} ds_mmsghdr;
#endif

/* A message header over one buffer, data[0..len), with room for an
** address and control data (either may be NULL). */
static inline void ds_msg_set(ds_msghdr *mh, void *name, socklen_t namelen, ds_iov *iov,
                              void *data, size_t len, void *control, size_t controllen) {
  iov->iov_base = data;
  iov->iov_len = len;
  memset(mh, 0, sizeof(*mh));
  mh->msg_name = name;
  mh->msg_namelen = namelen;
  mh->msg_iov = iov;
  mh->msg_iovlen = 1;
  mh->msg_control = control;
  mh->msg_controllen = controllen;
}

/* The room a receive used up, given back for the next one. */
static inline void ds_msg_reset(ds_msghdr *mh, socklen_t namelen, size_t controllen) {
  mh->msg_namelen = namelen;
  mh->msg_controllen = controllen;
}

static inline void *ds_msg_name(const ds_msghdr *mh) { return mh->msg_name; }
static inline socklen_t ds_msg_namelen(const ds_msghdr *mh) { return mh->msg_namelen; }
static inline void *ds_msg_control(const ds_msghdr *mh) { return mh->msg_control; }
static inline size_t ds_msg_controllen(const ds_msghdr *mh) { return mh->msg_controllen; }
/* ICMP sockets (issue 17): the one buffer and its room. */
static inline char *ds_msg_data(const ds_msghdr *mh) { return (char *)mh->msg_iov[0].iov_base; }
static inline size_t ds_msg_datalen(const ds_msghdr *mh) { return (size_t)mh->msg_iov[0].iov_len; }
static inline int ds_msg_flags(const ds_msghdr *mh) { return mh->msg_flags; }

/* The backlog that asks for the most: the kernel caps it at its own limit
** (Linux's net.core.somaxconn, the BSDs' kern.ipc.somaxconn). */
#define DS_BACKLOG_MAX INT_MAX

/* shutdown's directions */
#define DS_SHUT_RD SHUT_RD
#define DS_SHUT_WR SHUT_WR
#define DS_SHUT_RDWR SHUT_RDWR

/* IPv4 destination-address control messages. Linux and Windows: IP_PKTINFO
** with struct in_pktinfo (Linux reads the source from ipi_spec_dst, Windows
** from ipi_addr). FreeBSD/OpenBSD/macOS without IP_PKTINFO: IP_RECVDSTADDR
** on receive and IP_SENDSRCADDR on send, carrying a bare struct in_addr. */
#if defined(IP_PKTINFO)
#define DS_HAVE_IP_PKTINFO 1
#define DS_HAVE_IPI_SPEC_DST 1 /* the local address to answer from */
#define DS_IP_RECV_DSTOPT IP_PKTINFO
#define DS_IP_DSTMSG_SIZE sizeof(struct in_pktinfo)
#elif defined(IP_RECVDSTADDR)
#define DS_IP_RECV_DSTOPT IP_RECVDSTADDR
#define DS_IP_DSTMSG_SIZE sizeof(struct in_addr)
#endif

/* The IPv6 receive option was renamed by RFC 3542; old names mean "send". */
#if defined(IPV6_RECVPKTINFO)
#define DS_IPV6_RECV_PKTINFO IPV6_RECVPKTINFO
#else
#define DS_IPV6_RECV_PKTINFO IPV6_PKTINFO
#endif
#if defined(IPV6_RECVHOPLIMIT)
#define DS_IPV6_RECV_HOPLIMIT IPV6_RECVHOPLIMIT
#else
#define DS_IPV6_RECV_HOPLIMIT IPV6_HOPLIMIT
#endif

/* IPv4 TTL arrives as IP_TTL on Linux, IP_RECVTTL on the BSDs; the TOS
** byte as IP_TOS on Linux, IP_RECVTOS on FreeBSD and macOS. */
#if defined(__linux__)
#define DS_IP_TTLMSG IP_TTL
#define DS_IP_TOSMSG IP_TOS
#else
#define DS_IP_TTLMSG IP_RECVTTL
#define DS_IP_TOSMSG IP_RECVTOS
#endif

/* Receive timestamps: nanoseconds where the kernel has them. */
#if defined(SO_TIMESTAMPNS)
#define DS_TIMESTAMP_OPT SO_TIMESTAMPNS
#define DS_TIMESTAMP_MSG SCM_TIMESTAMPNS
#define DS_TIMESTAMP_TYPE struct timespec
#define DS_TIMESTAMP_FRAC(ts) ((ts).tv_nsec * 1e-9)
#else
#define DS_TIMESTAMP_OPT SO_TIMESTAMP
#define DS_TIMESTAMP_MSG SCM_TIMESTAMP
#define DS_TIMESTAMP_TYPE struct timeval
#define DS_TIMESTAMP_FRAC(ts) ((ts).tv_usec * 1e-6)
#endif

/* UDP segmentation offload (GSO on send, GRO on receive): Linux only. */
#if defined(UDP_SEGMENT) && defined(UDP_GRO)
#define DS_HAVE_UDP_GSO 1
#endif

/* SO_REUSEPORT is missing on some systems (and means "steal" on Windows,
** where SO_EXCLUSIVEADDRUSE is the safe default instead). */
#if defined(SO_REUSEPORT)
#define DS_HAVE_REUSEPORT 1
#endif

/* Options some systems lack are named DS_OPT_ABSENT there: setting or
** reading one then fails with ENOPROTOOPT. TCP keepalive timing: Linux
** and the BSDs; macOS calls the idle time TCP_KEEPALIVE. */
#define DS_OPT_ABSENT (-1)
#if defined(TCP_KEEPIDLE)
#define DS_TCP_KEEPIDLE TCP_KEEPIDLE
#elif defined(TCP_KEEPALIVE)
#define DS_TCP_KEEPIDLE TCP_KEEPALIVE
#else
#define DS_TCP_KEEPIDLE DS_OPT_ABSENT
#endif
#if defined(TCP_KEEPCNT)
#define DS_TCP_KEEPCNT TCP_KEEPCNT
#else
#define DS_TCP_KEEPCNT DS_OPT_ABSENT
#endif
#if defined(TCP_KEEPINTVL)
#define DS_TCP_KEEPINTVL TCP_KEEPINTVL
#else
#define DS_TCP_KEEPINTVL DS_OPT_ABSENT
#endif

/* A socket bound to one interface by name: Linux. */
#if defined(SO_BINDTODEVICE)
#define DS_HAVE_BINDTODEVICE 1
#endif

/* The IPv4 arrival marker of a dual socket. Linux delivers IPv6 datagrams
** whose source claims to be IPv4-mapped; only the IPv4-level control data
** that comes with real IPv4 traffic tells them apart. dualstack turns on an
** IPv4-level receive option the user never sets, so every IPv4 datagram
** carries at least one IPPROTO_IP message: IP_RECVORIGDSTADDR (Linux,
** FreeBSD), on while no IPv4-level receive option of the user's is.
** Elsewhere IP_RECVDSTADDR serves, which then also gives dst. */
#if defined(IP_RECVORIGDSTADDR)
#define DS_IP_GUARD_OPT IP_RECVORIGDSTADDR
#define DS_IP_GUARD_SIZE sizeof(struct sockaddr_in)
#elif defined(IP_RECVDSTADDR)
#define DS_IP_GUARD_OPT IP_RECVDSTADDR
#define DS_IP_GUARD_SIZE sizeof(struct in_addr)
#define DS_GUARD_SHARED 1 /* the same option as pktinfo's: never turned off */
#endif

/* Path MTU (issue 17): IP_MTU_DISCOVER / IPV6_MTU_DISCOVER modes (Linux's
** numbers, the same for both levels), the don't-fragment switch of each
** family (Linux's IPv4 one is IP_MTU_DISCOVER DO, off = WANT, its
** default; the BSDs' IP_DONTFRAG), and the path MTU of a connected
** socket (IP_MTU, IPV6_MTU). DS_OPT_ABSENT where the system lacks one. */
#if defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_PROBE)
#define DS_IP_MTU_DISCOVER IP_MTU_DISCOVER
#define DS_PMTU_DONT IP_PMTUDISC_DONT
#define DS_PMTU_WANT IP_PMTUDISC_WANT
#define DS_PMTU_DO IP_PMTUDISC_DO
#define DS_PMTU_PROBE IP_PMTUDISC_PROBE
#define DS_IP_DONTFRAG IP_MTU_DISCOVER
#define DS_DONTFRAG4_ON IP_PMTUDISC_DO
#define DS_DONTFRAG4_OFF IP_PMTUDISC_WANT
#else
#define DS_IP_MTU_DISCOVER DS_OPT_ABSENT
#define DS_PMTU_DONT 0
#define DS_PMTU_WANT 1
#define DS_PMTU_DO 2
#define DS_PMTU_PROBE 3
#if defined(IP_DONTFRAG)
#define DS_IP_DONTFRAG IP_DONTFRAG
#else
#define DS_IP_DONTFRAG DS_OPT_ABSENT
#endif
#define DS_DONTFRAG4_ON 1
#define DS_DONTFRAG4_OFF 0
#endif
#if defined(IPV6_MTU_DISCOVER)
#define DS_IPV6_MTU_DISCOVER IPV6_MTU_DISCOVER
#else
#define DS_IPV6_MTU_DISCOVER DS_OPT_ABSENT
#endif
#if defined(IPV6_DONTFRAG)
#define DS_IPV6_DONTFRAG IPV6_DONTFRAG
#else
#define DS_IPV6_DONTFRAG DS_OPT_ABSENT
#endif
#if defined(IP_MTU)
#define DS_IP_MTU IP_MTU
#else
#define DS_IP_MTU DS_OPT_ABSENT
#endif
#if defined(IPV6_MTU)
#define DS_IPV6_MTU IPV6_MTU
#else
#define DS_IPV6_MTU DS_OPT_ABSENT
#endif

/* recverr (issue 17): ICMP errors on UDP read from the error queue
** (Linux). sock_extended_err is a fixed kernel ABI: linux/errqueue.h's,
** or a mirror of it where the header is missing (musl without kernel
** headers). Elsewhere the options are absent: ENOPROTOOPT. */
#include <stdint.h>
#if defined(__linux__) && defined(IP_RECVERR) && defined(IPV6_RECVERR) && defined(MSG_ERRQUEUE)
#define DS_HAVE_ERRQUEUE 1
#define DS_IP_RECVERR IP_RECVERR
#define DS_IPV6_RECVERR IPV6_RECVERR
#if defined(__has_include)
#if __has_include(<linux/errqueue.h>)
#include <linux/errqueue.h>
#define DS_HAVE_LINUX_ERRQUEUE_H 1
#endif
#endif
#if defined(DS_HAVE_LINUX_ERRQUEUE_H)
typedef struct sock_extended_err ds_sock_ee;
#else
typedef struct ds_sock_ee {
  uint32_t ee_errno;
  uint8_t ee_origin, ee_type, ee_code, ee_pad;
  uint32_t ee_info, ee_data;
} ds_sock_ee;
#endif
#else
#define DS_IP_RECVERR DS_OPT_ABSENT
#define DS_IPV6_RECVERR DS_OPT_ABSENT
typedef struct ds_sock_ee {
  uint32_t ee_errno;
  uint8_t ee_origin, ee_type, ee_code, ee_pad;
  uint32_t ee_info, ee_data;
} ds_sock_ee;
#endif

/* Control messages, by the names the core uses (Windows: WSACMSGHDR and
** WSA_CMSG_*). */
typedef struct cmsghdr ds_cmsghdr;
#define DS_CMSG_SPACE(n) CMSG_SPACE(n)
#define DS_CMSG_LEN(n) CMSG_LEN(n)
#define DS_CMSG_DATA(c) CMSG_DATA(c)
#define DS_CMSG_FIRSTHDR(mh) CMSG_FIRSTHDR(mh)
#define DS_CMSG_NXTHDR(mh, c) CMSG_NXTHDR(mh, c)
/* local sockets: credentials (Linux), and the control room of one
** SCM_CREDENTIALS message; without them sys.h gives the absent answers */
#if defined(SO_PEERCRED) && defined(SCM_CREDENTIALS)
#define DS_HAVE_PEERCRED 1
#define DS_CRED_ROOM CMSG_SPACE(sizeof(struct ucred))
#else
#define DS_CRED_ROOM 0
#endif
/* descriptor passing: the control room of n descriptors */
#define DS_RIGHTS_ROOM(n) CMSG_SPACE((n) * sizeof(int))

#endif
