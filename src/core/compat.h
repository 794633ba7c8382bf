/*
** Platform compat layer: every #ifdef about what a system calls a socket
** feature lives here, so the rest of the module is written once.
** Built and tested on Linux; the BSD, macOS and Windows branches record
** what differs so a port changes only this file.
*/
#ifndef DS_COMPAT_H
#define DS_COMPAT_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* accept4, recvmmsg, sendmmsg, in6_pktinfo */
#endif

#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#if defined(__linux__)
#include <netinet/udp.h>
#endif

/* Sending never raises SIGPIPE: Linux has a per-call flag, BSD and macOS a
** per-socket option (set once in ds_compat_socket_setup). */
#if defined(MSG_NOSIGNAL)
#define DS_SEND_FLAGS MSG_NOSIGNAL
#else
#define DS_SEND_FLAGS 0
#endif

/* Windows (not built yet): recvmsg and sendmsg are WSARecvMsg, fetched
** with WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER), and WSASendMsg; the
** control macros are WSA_CMSG_*; errors come from WSAGetLastError. */

/* IPv4 destination-address control messages. Linux and Windows: IP_PKTINFO
** with struct in_pktinfo (Linux reads the source from ipi_spec_dst, Windows
** from ipi_addr). FreeBSD/OpenBSD/macOS without IP_PKTINFO: IP_RECVDSTADDR
** on receive and IP_SENDSRCADDR on send, carrying a bare struct in_addr. */
#if defined(IP_PKTINFO)
#define DS_HAVE_IP_PKTINFO 1
#define DS_IP_RECV_DSTOPT IP_PKTINFO
#define DS_IP_DSTMSG IP_PKTINFO
#define DS_IP_SRCMSG IP_PKTINFO
#define DS_IP_DSTMSG_SIZE sizeof(struct in_pktinfo)
#elif defined(IP_RECVDSTADDR)
#define DS_IP_RECV_DSTOPT IP_RECVDSTADDR
#define DS_IP_DSTMSG IP_RECVDSTADDR
#define DS_IP_SRCMSG IP_SENDSRCADDR
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

/* Batched datagram calls: Linux and FreeBSD have them; elsewhere the batch
** functions loop over single calls. */
#if defined(__linux__) || defined(__FreeBSD__)
#define DS_HAVE_MMSG 1
#endif

/* Linux reports a datagram's real length when asked with MSG_TRUNC; other
** systems only flag the truncation. */
#if defined(__linux__)
#define DS_RECV_FLAGS MSG_TRUNC
#else
#define DS_RECV_FLAGS 0
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

/* A new descriptor is close-on-exec from birth where the system allows it. */
#if defined(SOCK_CLOEXEC)
#define DS_SOCK_CLOEXEC SOCK_CLOEXEC
#else
#define DS_SOCK_CLOEXEC 0
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

/* OpenBSD has no dual-stack sockets at all: IPV6_V6ONLY is fixed at 1. */
#if defined(__OpenBSD__)
#define DS_NO_DUALSTACK 1
#endif

#endif
