#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void check(int ok, const char *what) {
  if (!ok) die("%s: %s", what, strerror(errno));
}

int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void addr_parse(bench_addr *a, const char *text, unsigned port) {
  struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
  memset(a, 0, sizeof(*a));
  if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    a->len = sizeof(*in);
  } else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    a->len = sizeof(*in6);
  } else {
    die("not a numeric address: '%s'", text);
  }
}

const char *addr_text(const struct sockaddr *sa, char *buf, size_t len) {
  const void *bytes = sa->sa_family == AF_INET
    ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
    : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
  if (!inet_ntop(sa->sa_family, bytes, buf, (socklen_t)len)) snprintf(buf, len, "?");
  return buf;
}

unsigned addr_port(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
                                  : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, "write");
    p += n;
    len -= (size_t)n;
  }
}

long long parse_count(const char *text, const char *what) {
  char *end;
  long long n;
  errno = 0;
  n = strtoll(text, &end, 10);
  if (errno || end == text || *end || n < 0) die("bad %s: '%s'", what, text);
  return n;
}
