/*
** Control data: decoding what recvmsg delivered and encoding what sendmsg
** should carry. Plain buffers in, plain structs out, no Lua, so both can
** be fuzzed. Platform spellings come from the backend (../sys/).
*/
#include "core.h"

#include <string.h>
#include <time.h>

/* Control buffer room for the receive options enabled. With IPv4 and IPv6
** packet info both on, Linux delivers both messages for an IPv4 datagram,
** so every option counts its IPv4 and its IPv6 message. */
size_t ds_cmsg_space(unsigned recvopts) {
  size_t n = 0;
  if (recvopts & DS_RECV_PKTINFO)
    n += DS_CMSG_SPACE(DS_IP_DSTMSG_SIZE) + DS_CMSG_SPACE(sizeof(struct in6_pktinfo));
  if (recvopts & DS_RECV_HOPLIMIT) n += 2 * DS_CMSG_SPACE(sizeof(int));
  if (recvopts & DS_RECV_TCLASS) n += 2 * DS_CMSG_SPACE(sizeof(int));
#if defined(DS_TIMESTAMP_OPT)
  if (recvopts & DS_RECV_TIMESTAMP) n += DS_CMSG_SPACE(sizeof(DS_TIMESTAMP_TYPE));
#endif
  if (recvopts & DS_RECV_GRO) n += DS_CMSG_SPACE(sizeof(int));
#if defined(DS_IP_GUARD_OPT)
  if (recvopts & DS_RECV_GUARD) n += DS_CMSG_SPACE(DS_IP_GUARD_SIZE);
#endif
  return n;
}

/* Copies the payload of c when it holds at least size bytes. */
static int payload(const ds_cmsghdr *c, size_t avail, void *dst, size_t size) {
  if (avail < DS_CMSG_LEN(size)) return 0;
  memcpy(dst, DS_CMSG_DATA(c), size);
  return 1;
}

/* An IPv4 TTL or TOS: an int on Linux (TTL), one byte on the BSDs (TTL) and
** everywhere for a received TOS, an int where it was encoded (core tests).
** Read by the length the message gives, never one byte out of an int: that
** is the int's high byte on a big-endian CPU. */
static int ipv4_small(const ds_cmsghdr *c, size_t avail, int *out) {
  unsigned char byte;
  if (payload(c, avail, out, sizeof(*out))) return 1;
  if (!payload(c, avail, &byte, 1)) return 0;
  *out = byte;
  return 1;
}

#if defined(DS_HAVE_IPI_SPEC_DST)
static int is_ipv4_group(const unsigned char *b) {
  return (b[0] & 0xf0) == 0xe0;
}
#endif

/* Records an IPv4 destination. The limited broadcast is known on sight;
** where the system says no more (no ipi_spec_dst) it stays the dst. */
static void set_ipv4_dst(ds_ctl *out, const struct in_addr *a) {
  static const unsigned char all_ones[4] = {255, 255, 255, 255};
  memset(&out->addr, 0, sizeof(out->addr));
  out->addr.af = AF_INET;
  memcpy(out->addr.bytes, a, 4);
  out->have |= DS_CTL_ADDR;
  if (memcmp(out->addr.bytes, all_ones, 4) == 0) {
    out->broadcast = out->addr;
    out->have |= DS_CTL_BROADCAST;
  }
}

static void decode_ip(const ds_cmsghdr *c, size_t avail, ds_ctl *out) {
  int v;
  switch (c->cmsg_type) {
#if defined(DS_HAVE_IP_PKTINFO)
    case IP_PKTINFO: {
      struct in_pktinfo pi;
      if (!payload(c, avail, &pi, sizeof(pi))) return;
      set_ipv4_dst(out, &pi.ipi_addr); /* the header's destination */
      out->ifindex = (unsigned)pi.ipi_ifindex;
      out->have |= DS_CTL_IFINDEX;
#if defined(DS_HAVE_IPI_SPEC_DST)
      /* ipi_spec_dst is the local address the system would answer from:
      ** the header's destination itself, unless that was a broadcast (or a
      ** group, which stays the dst). For a broadcast, dst becomes that
      ** address, when there is one (an interface without IPv4 has none). */
      if (pi.ipi_spec_dst.s_addr != 0 && pi.ipi_spec_dst.s_addr != pi.ipi_addr.s_addr &&
          !is_ipv4_group(out->addr.bytes)) {
        out->broadcast = out->addr;
        memcpy(out->addr.bytes, &pi.ipi_spec_dst, 4);
        out->have |= DS_CTL_BROADCAST;
      }
#endif
      return;
    }
#else
    case IP_RECVDSTADDR: {
      struct in_addr a;
      if (!payload(c, avail, &a, sizeof(a))) return;
      set_ipv4_dst(out, &a);
      return;
    }
#endif
    case DS_IP_TTLMSG:
#if defined(DS_IP_TTLMSG_ALSO)
    case DS_IP_TTLMSG_ALSO:
#endif
      if (ipv4_small(c, avail, &v)) {
        out->hoplimit = v;
        out->have |= DS_CTL_HOPLIMIT;
      }
      return;
    case DS_IP_TOSMSG:
      if (ipv4_small(c, avail, &v)) {
        out->tclass = v & 0xff;
        out->have |= DS_CTL_TCLASS;
      }
      return;
  }
}

static void decode_ipv6(const ds_cmsghdr *c, size_t avail, ds_ctl *out) {
  int v;
  switch (c->cmsg_type) {
    case IPV6_PKTINFO: {
      struct in6_pktinfo pi;
      if (!payload(c, avail, &pi, sizeof(pi))) return;
      /* For an IPv4 datagram this is the mapped twin of IP_PKTINFO: keep
      ** the IPv4 one when both came, so the order does not matter. */
      if ((out->have & DS_CTL_ADDR) && out->addr.af == AF_INET) return;
      out->addr.af = AF_INET6;
      memcpy(out->addr.bytes, &pi.ipi6_addr, 16);
      out->addr.scope = 0;
      out->ifindex = pi.ipi6_ifindex;
      out->have |= DS_CTL_ADDR | DS_CTL_IFINDEX;
      return;
    }
    case IPV6_HOPLIMIT:
      if (payload(c, avail, &v, sizeof(v))) {
        out->hoplimit = v;
        out->have |= DS_CTL_HOPLIMIT;
      }
      return;
    case IPV6_TCLASS:
      if (payload(c, avail, &v, sizeof(v))) {
        out->tclass = v & 0xff;
        out->have |= DS_CTL_TCLASS;
      }
      return;
  }
}

static void decode_socket(const ds_cmsghdr *c, size_t avail, ds_ctl *out) {
#if defined(DS_TIMESTAMP_OPT)
  DS_TIMESTAMP_TYPE ts;
  if (c->cmsg_type != DS_TIMESTAMP_MSG || !payload(c, avail, &ts, sizeof(ts))) return;
  out->timestamp = (double)ts.tv_sec + DS_TIMESTAMP_FRAC(ts);
  out->have |= DS_CTL_TIMESTAMP;
#else
  (void)c;
  (void)avail;
  (void)out;
#endif
}

#if defined(DS_HAVE_UDP_GSO)
static void decode_udp(const ds_cmsghdr *c, size_t avail, ds_ctl *out) {
  int v;
  if (c->cmsg_type == UDP_GRO && payload(c, avail, &v, sizeof(v))) {
    out->segment = v;
    out->have |= DS_CTL_SEGMENT;
  }
}
#endif

/* Decodes a received control buffer (aligned for ds_cmsghdr, as
** recvmsg's is). Unknown and short messages are skipped; a message that
** claims more bytes than the buffer holds is read only as far as it goes.
** out->ipv4 says whether any IPv4-level message came, cut or not: the
** spoof check's evidence (recv.c). */
void ds_cmsg_decode(const void *control, size_t len, ds_ctl *out) {
  ds_msghdr mh;
  ds_iov iov;
  ds_cmsghdr *c;
  const char *end;
  out->have = 0;
  out->ipv4 = 0;
  if (len == 0) return; /* control may be NULL: no arithmetic on it */
  end = (const char *)control + len;
  ds_msg_set(&mh, NULL, 0, &iov, NULL, 0, (void *)control, len);
  for (c = DS_CMSG_FIRSTHDR(&mh); c; c = DS_CMSG_NXTHDR(&mh, c)) {
    size_t avail = (size_t)(end - (const char *)c);
    /* A header shorter than itself would lead some systems' NXTHDR
    ** (MinGW's) back to the same place for ever: the rest is not read. */
    if (c->cmsg_len < sizeof(ds_cmsghdr)) break;
    if (c->cmsg_len < avail) avail = c->cmsg_len;
    if (c->cmsg_level == IPPROTO_IP) {
      out->ipv4 = 1; /* only IPv4 traffic carries IPv4-level messages */
      decode_ip(c, avail, out);
    } else if (c->cmsg_level == IPPROTO_IPV6) decode_ipv6(c, avail, out);
    else if (c->cmsg_level == SOL_SOCKET) decode_socket(c, avail, out);
#if defined(DS_HAVE_UDP_GSO)
    else if (c->cmsg_level == SOL_UDP) decode_udp(c, avail, out);
#endif
  }
}

#define NOFIT ((size_t)-1)

/* Appends one control message; returns the new length, or NOFIT. */
static size_t put(char *buf, size_t len, size_t cap, int level, int type,
                  const void *data, size_t size) {
  ds_cmsghdr h;
  if (len == NOFIT || len + DS_CMSG_SPACE(size) > cap) return NOFIT;
  memset(buf + len, 0, DS_CMSG_SPACE(size));
  memset(&h, 0, sizeof(h)); /* its padding too: no system need tolerate junk there */
  h.cmsg_level = level;
  h.cmsg_type = type;
  h.cmsg_len = DS_CMSG_LEN(size);
  memcpy(buf + len, &h, sizeof(h));
  memcpy(DS_CMSG_DATA((ds_cmsghdr *)(void *)(buf + len)), data, size);
  return len + DS_CMSG_SPACE(size);
}

static size_t encode_source4(char *buf, size_t len, size_t cap, const ds_ctl *in) {
  const unsigned char *v4 = in->addr.af == AF_INET ? in->addr.bytes : in->addr.bytes + 12;
#if defined(DS_HAVE_IP_PKTINFO)
  struct in_pktinfo pi;
  memset(&pi, 0, sizeof(pi));
  if (in->have & DS_CTL_ADDR) {
#if defined(DS_HAVE_IPI_SPEC_DST)
    memcpy(&pi.ipi_spec_dst, v4, 4); /* the source on Linux */
#endif
    memcpy(&pi.ipi_addr, v4, 4); /* the source on Windows */
  }
  if (in->have & DS_CTL_IFINDEX) pi.ipi_ifindex = (int)in->ifindex;
  return put(buf, len, cap, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
#else
  struct in_addr a; /* IP_SENDSRCADDR carries no interface */
  if (!(in->have & DS_CTL_ADDR)) return len;
  memcpy(&a, v4, 4);
  return put(buf, len, cap, IPPROTO_IP, IP_SENDSRCADDR, &a, sizeof(a));
#endif
}

static size_t encode_source6(char *buf, size_t len, size_t cap, const ds_ctl *in) {
  struct in6_pktinfo pi;
  memset(&pi, 0, sizeof(pi));
  if (in->have & DS_CTL_ADDR) memcpy(&pi.ipi6_addr, in->addr.bytes, 16);
  if (in->have & DS_CTL_IFINDEX) pi.ipi6_ifindex = in->ifindex;
  return put(buf, len, cap, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
}

/* Encodes what to send with a datagram. ipv4 says the destination is IPv4
** or IPv4-mapped: such traffic takes IPv4-level messages even on an IPv6
** socket. Returns the control length, or (size_t)-1 when cap is too small. */
size_t ds_cmsg_encode(void *control, size_t cap, const ds_ctl *in, int ipv4) {
  char *buf = (char *)control;
  size_t len = 0;
  if (in->have & (DS_CTL_ADDR | DS_CTL_IFINDEX))
    len = ipv4 ? encode_source4(buf, len, cap, in) : encode_source6(buf, len, cap, in);
  /* -1 means the socket's default: IPv6 says so in the message, IPv4
  ** (which refuses TTLs outside 1-255) by leaving the message out. */
  if ((in->have & DS_CTL_HOPLIMIT) && !(ipv4 && in->hoplimit < 0))
    len = put(buf, len, cap, ipv4 ? IPPROTO_IP : IPPROTO_IPV6, ipv4 ? IP_TTL : IPV6_HOPLIMIT,
              &in->hoplimit, sizeof(int));
  if (in->have & DS_CTL_TCLASS) {
#if defined(DS_ECN_MSG)
    int ecn = in->tclass & 3;
    len = put(buf, len, cap, ipv4 ? IPPROTO_IP : IPPROTO_IPV6, DS_ECN_MSG, &ecn, sizeof(int));
#else
    len = put(buf, len, cap, ipv4 ? IPPROTO_IP : IPPROTO_IPV6, ipv4 ? IP_TOS : IPV6_TCLASS,
              &in->tclass, sizeof(int));
#endif
  }
#if defined(DS_HAVE_UDP_GSO)
  if (in->have & DS_CTL_SEGMENT) {
    uint16_t seg = (uint16_t)in->segment;
    len = put(buf, len, cap, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
  }
#endif
  return len;
}
