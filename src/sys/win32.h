/*
** The Windows backend's header (Winsock 2, Vista and later): the types
** sys.h names and every Winsock spelling of a socket feature. Included
** through sys.h only; built with MinGW-w64 (make windows).
*/
#ifndef DS_SYS_WIN32_H
#define DS_SYS_WIN32_H

#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* WSAPoll, WSASendMsg, inet_pton, if_nametoindex */
#endif

/* select (ds_sys_poll's waits for writing) takes this many sockets. */
#if !defined(FD_SETSIZE)
#define FD_SETSIZE 1024
#endif

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <iphlpapi.h>
/* local sockets (AF_UNIX, stream only) */
#include <afunix.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/types.h>


/* Error names the C runtime lacks, for the Winsock codes that mean them
** (ds_sys_error maps every code it knows to an errno value). */
#if !defined(EHOSTDOWN)
#define EHOSTDOWN 2001
#endif
#if !defined(ESHUTDOWN)
#define ESHUTDOWN 2002
#endif

/* A descriptor is a SOCKET handle; none is INVALID_SOCKET. */
typedef SOCKET ds_fd;
#define DS_FD_NONE INVALID_SOCKET
/* The largest handle a Lua integer may name: handles have 32 significant
** bits (they are shared with 32-bit processes). */
#define DS_FD_MAX INT_MAX

typedef WSAPOLLFD ds_pollfd;
typedef WSABUF ds_iov;
typedef WSAMSG ds_msghdr;

/* No batch calls: the backend loops, and the entries keep Linux's names. */
typedef struct ds_mmsghdr {
  WSAMSG msg_hdr;
  unsigned int msg_len;
} ds_mmsghdr;

/* Winsock's lengths are 32 bits: a longer buffer is cut to INT_MAX, never
** wrapped (a datagram that long is refused as too long anyway). */
static inline void ds_msg_set(ds_msghdr *mh, void *name, socklen_t namelen, ds_iov *iov,
                              void *data, size_t len, void *control, size_t controllen) {
  iov->buf = (CHAR *)data;
  iov->len = (ULONG)(len > INT_MAX ? INT_MAX : len);
  memset(mh, 0, sizeof(*mh));
  mh->name = (LPSOCKADDR)name;
  mh->namelen = (INT)namelen;
  mh->lpBuffers = iov;
  mh->dwBufferCount = 1;
  mh->Control.buf = (CHAR *)control;
  mh->Control.len = (ULONG)controllen;
}

static inline void ds_msg_reset(ds_msghdr *mh, socklen_t namelen, size_t controllen) {
  mh->namelen = (INT)namelen;
  mh->Control.len = (ULONG)controllen;
  mh->dwFlags = 0;
}

static inline void *ds_msg_name(const ds_msghdr *mh) { return mh->name; }
static inline socklen_t ds_msg_namelen(const ds_msghdr *mh) { return mh->namelen; }
static inline void *ds_msg_control(const ds_msghdr *mh) { return mh->Control.buf; }
static inline size_t ds_msg_controllen(const ds_msghdr *mh) { return mh->Control.len; }
/* ICMP sockets (issue 17): the one buffer and its room. */
static inline char *ds_msg_data(const ds_msghdr *mh) { return (char *)mh->lpBuffers[0].buf; }
static inline size_t ds_msg_datalen(const ds_msghdr *mh) { return (size_t)mh->lpBuffers[0].len; }
static inline int ds_msg_flags(const ds_msghdr *mh) { return (int)mh->dwFlags; }

/* Winsock's SOMAXCONN means "a reasonable maximum", chosen by the system. */
#define DS_BACKLOG_MAX SOMAXCONN

#define DS_SHUT_RD SD_RECEIVE
#define DS_SHUT_WR SD_SEND
#define DS_SHUT_RDWR SD_BOTH

/* Control messages: WSACMSGHDR and the WSA_CMSG_* macros. */
typedef WSACMSGHDR ds_cmsghdr;
#define DS_CMSG_SPACE(n) WSA_CMSG_SPACE(n)
#define DS_CMSG_LEN(n) WSA_CMSG_LEN(n)
#define DS_CMSG_DATA(c) WSA_CMSG_DATA(c)
#define DS_CMSG_FIRSTHDR(mh) WSA_CMSG_FIRSTHDR(mh)
#define DS_CMSG_NXTHDR(mh, c) WSA_CMSG_NXTHDR(mh, c)

/* IPv4 packet info: IP_PKTINFO, whose ipi_addr is the destination on
** receive and the source on send (no ipi_spec_dst). */
#define DS_HAVE_IP_PKTINFO 1
#define DS_IP_RECV_DSTOPT IP_PKTINFO
#define DS_IP_DSTMSG_SIZE sizeof(struct in_pktinfo)

/* IPv6: the pre-RFC 3542 names are the receive options here. */
#define DS_IPV6_RECV_PKTINFO IPV6_PKTINFO
#define DS_IPV6_RECV_HOPLIMIT IPV6_HOPLIMIT

/* The TTL arrives as IP_HOPLIMIT (asked for with IP_RECVTTL, the same
** number), or as IP_TTL (Wine does so); the TOS byte as IP_TOS. */
#define DS_IP_TTLMSG IP_HOPLIMIT
#define DS_IP_TTLMSG_ALSO IP_TTL
#define DS_IP_TOSMSG IP_TOS

/* ECN (the reference's ecn.md): Windows sends the ECN bits alone, as an
** IP_ECN/IPV6_ECN message holding an INT; the DSCP is not set per
** datagram. A tclass to send gives its ECN bits. Received, the whole TOS
** or traffic class byte comes with recvtclass (IP_RECVTOS). */
#define DS_ECN_MSG 50 /* IP_ECN and IPV6_ECN */

/* No receive timestamps through control messages (Windows has its own
** timestamping ioctls), no UDP segmentation offload through them, no
** SO_REUSEPORT: those options do not exist here. */

/* TCP keepalive timing: Windows 10 1709's numbers (ws2ipdef.h of newer
** SDKs; MinGW's headers lack them); older systems refuse them with
** WSAENOPROTOOPT, reported as ENOPROTOOPT. No SO_BINDTODEVICE. */
#define DS_OPT_ABSENT (-1)
#define DS_TCP_KEEPIDLE 3   /* TCP_KEEPALIVE, alias TCP_KEEPIDLE */
#define DS_TCP_KEEPCNT 16
#define DS_TCP_KEEPINTVL 17

/* Path MTU (issue 17): Windows numbers the modes its own way (NOT_SET 0,
** DO 1, DONT 2, PROBE 3): "want" is NOT_SET, the system's default. IPv4's
** don't-fragment switch is IP_DONTFRAGMENT. */
#define DS_IP_MTU_DISCOVER IP_MTU_DISCOVER
#define DS_IPV6_MTU_DISCOVER IPV6_MTU_DISCOVER
#define DS_PMTU_DONT IP_PMTUDISC_DONT
#define DS_PMTU_WANT IP_PMTUDISC_NOT_SET
#define DS_PMTU_DO IP_PMTUDISC_DO
#define DS_PMTU_PROBE IP_PMTUDISC_PROBE
#define DS_IP_DONTFRAG IP_DONTFRAGMENT
#define DS_DONTFRAG4_ON 1
#define DS_DONTFRAG4_OFF 0
#define DS_IPV6_DONTFRAG IPV6_DONTFRAG
#define DS_IP_MTU IP_MTU
#define DS_IPV6_MTU IPV6_MTU

/* recverr (issue 17): no error queue here (Windows' IP_RECVERR with
** ICMP_ERROR_INFO is another design): the option is absent. */
#include <stdint.h>
#define DS_IP_RECVERR DS_OPT_ABSENT
#define DS_IPV6_RECVERR DS_OPT_ABSENT
typedef struct ds_sock_ee {
  uint32_t ee_errno;
  uint8_t ee_origin, ee_type, ee_code, ee_pad;
  uint32_t ee_info, ee_data;
} ds_sock_ee;

/* The IPv4 arrival marker: IP_PKTINFO itself, which every IPv4 datagram
** on a dual socket then carries (after the mapped IPV6_PKTINFO). */
#define DS_IP_GUARD_OPT IP_PKTINFO
#define DS_IP_GUARD_SIZE sizeof(struct in_pktinfo)
#define DS_GUARD_SHARED 1

/* local sockets: no credentials in messages */
#define DS_CRED_ROOM 0
/* no descriptor passing: one byte keeps the arrays that hold it legal */
#define DS_RIGHTS_ROOM(n) ((size_t)1)

#endif
