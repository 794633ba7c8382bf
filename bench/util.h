/*
** bench: helpers shared by the peer and the raw C contender.
** Both programs die on the first failure: a benchmark that carries on
** after an error measures something else than it claims.
*/
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Payload size of every datagram in the UDP workloads. */
#define BENCH_DGRAM 64

/* Read and write size of the TCP workloads (and the receive size cap
** of the UDP ones, as in the dualstack contender). */
#define BENCH_CHUNK 65536
#define BENCH_UDP_MAX 2048

typedef struct bench_addr {
  struct sockaddr_storage ss;
  socklen_t len;
} bench_addr;

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void check(int ok, const char *what); /* dies with errno's text when !ok */

int64_t now_ns(void);

/* Numeric IPv4 or IPv6 text and a port into a sockaddr; dies on bad text. */
void addr_parse(bench_addr *a, const char *text, unsigned port);
/* Text of an address without the port, into buf of INET6_ADDRSTRLEN. */
const char *addr_text(const struct sockaddr *sa, char *buf, size_t len);
unsigned addr_port(const struct sockaddr *sa);

/* Writes the whole buffer (TCP), retrying short writes. */
void write_all(int fd, const void *buf, size_t len);

/* The drains' checksum of a payload: the wrapping sum of its 8-byte words,
** then of its remaining bytes. It reads every byte at about one add per 8,
** as cheaply as C can use data; the peer, which sent the payloads, checks
** the total. Inline so the raw C contender pays no call for it. */
static inline uint64_t bench_payload_sum(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t sum = 0, word;
  size_t i;
  for (i = 0; i + 8 <= len; i += 8) {
    memcpy(&word, p + i, 8);
    sum += word;
  }
  for (; i < len; i++) sum += p[i];
  return sum;
}

/* Parses a decimal count from argv; dies naming `what` on bad text. */
long long parse_count(const char *text, const char *what);

#endif
