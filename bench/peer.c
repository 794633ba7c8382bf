/*
** bench: the fixed peer. It starts one contender, drives one workload
** against it, checks every answer and does all the timing, so every
** contender is measured by the same code with the same clock.
**
** Usage: peer [options] WORKLOAD CMD...
**   WORKLOAD: pingpong | sink | mmsg | tcp-in | tcp-out
**   CMD...:   the contender's command line; the peer appends MODE N.
** Options:
**   -d ADDR   destination (numeric IPv4 or IPv6; default 127.0.0.2)
**   -n N      round trips, datagrams or bytes measured
**   -w N      round trips before the clock starts (pingpong)
**   -W N      datagrams in flight (pingpong; default 1)
**   -r N      also report the contender's RSS after N round trips and
**             at the end (pingpong)
**   -t S      seconds any single wait may take (default 10)
** Prints one line of key=value pairs: ops, wall (s), cpu (the
** contender's CPU seconds during the timed part), bg (others' CPU
** use during it, in CPUs), rss0/rss1 (KiB).
**
** The contender answers on stdout: "ready PID PORT FD" after binding,
** and "done COUNT DST [BYTES [SUM]]" when its work is complete; then it
** waits for EOF on its stdin. A drain must give BYTES, the payload bytes
** it read, and may give SUM, their checksum (bench_payload_sum): both are
** checked, so no contender is timed without reading its data. PID is its own, so wrappers (taskset, valgrind, strace)
** may sit between it and us.
*/
#define _GNU_SOURCE /* sendmmsg */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
  const char *workload;
  char **cmd;
  int ncmd;
  const char *dest;
  long long count, warmup, window, rss_at;
  int timeout_s;
} opts;

typedef struct contender {
  pid_t child; /* what we forked: maybe a wrapper */
  pid_t pid;   /* the contender process itself, from its ready line */
  int out;     /* read end of its stdout */
  int in;      /* write end of its stdin: closing it lets the contender exit */
  unsigned port;
  int fd;      /* its socket's descriptor number, in its own table */
  char line[256];
  size_t have; /* bytes of line read but not yet consumed */
} contender;

/* The state of things at one end of a timed part. */
typedef struct sample {
  int64_t t;           /* CLOCK_MONOTONIC, ns */
  int64_t cpu;         /* contender's time on a CPU, /proc/PID/schedstat, ns */
  int64_t self;        /* our own CPU time, ns */
  long long busy;      /* ticks all CPUs were busy, /proc/stat */
} sample;

static int g_timeout_ms = 10000;

/* ---- the contender process ---- */

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Reads one line of the contender's stdout into c->line (NUL-terminated,
** newline dropped); dies after the timeout or at EOF. */
static const char *read_line(contender *c) {
  size_t keep = 0;
  char *nl;
  if (c->have) { /* drop the line returned last time */
    nl = memchr(c->line, '\0', c->have);
    keep = c->have - (size_t)(nl + 1 - c->line);
    memmove(c->line, nl + 1, keep);
  }
  c->have = keep;
  while (!(nl = memchr(c->line, '\n', c->have))) {
    struct pollfd p = {c->out, POLLIN, 0};
    ssize_t n;
    if (c->have == sizeof(c->line) - 1) die("contender line too long");
    if (poll(&p, 1, g_timeout_ms) == 0) die("contender silent for %d ms", g_timeout_ms);
    n = read(c->out, c->line + c->have, sizeof(c->line) - 1 - c->have);
    if (n == 0) die("contender exited early (see its message above)");
    check(n > 0, "read from contender");
    c->have += (size_t)n;
  }
  *nl = '\0';
  return c->line;
}

static void spawn(contender *c, const opts *o, const char *mode, long long n) {
  char count[32];
  char **argv = calloc((size_t)o->ncmd + 3, sizeof(*argv));
  int pipefd[2], stdinfd[2];
  check(argv != NULL, "calloc");
  memcpy(argv, o->cmd, (size_t)o->ncmd * sizeof(*argv));
  snprintf(count, sizeof(count), "%lld", n);
  argv[o->ncmd] = (char *)mode;
  argv[o->ncmd + 1] = count;
  check(pipe(pipefd) == 0 && pipe(stdinfd) == 0, "pipe");
  fflush(stdout);
  c->child = fork();
  check(c->child >= 0, "fork");
  if (c->child == 0) {
    dup2(stdinfd[0], 0);
    dup2(pipefd[1], 1);
    close(stdinfd[0]);
    close(stdinfd[1]);
    close(pipefd[0]);
    close(pipefd[1]);
    execvp(argv[0], argv);
    die("exec %s: %s", argv[0], strerror(errno));
  }
  free(argv);
  close(pipefd[1]);
  close(stdinfd[0]);
  c->out = pipefd[0];
  c->in = stdinfd[1];
  c->have = 0;
  if (sscanf(read_line(c), "ready %d %u %d", &c->pid, &c->port, &c->fd) != 3)
    die("contender said '%s', expected 'ready PID PORT FD'", c->line);
}

/* The contender's "done COUNT DST [BYTES [SUM]]". */
typedef struct done_line {
  long long count;
  char dst[64];      /* "-" from a contender without pktinfo */
  int fields;        /* 2, 3 (BYTES given) or 4 (SUM too) */
  long long bytes;
  unsigned long long sum;
} done_line;

static done_line read_done(contender *c) {
  done_line d;
  d.fields = sscanf(read_line(c), "done %lld %63s %lld %llu", &d.count, d.dst, &d.bytes, &d.sum);
  if (d.fields < 2)
    die("contender said '%s', expected 'done COUNT DST [BYTES [SUM]]'", c->line);
  return d;
}

/* Lets the contender exit (it waits for EOF on stdin after "done", so that
** its counters in /proc outlive the measurement), then waits, bounded, for
** the forked process; dies unless it exited 0. */
static void finish(contender *c) {
  int status, waited;
  close(c->in);
  for (waited = 0; waitpid(c->child, &status, WNOHANG) == 0; waited += 10) {
    if (waited >= g_timeout_ms) {
      kill(c->child, SIGKILL);
      die("contender did not exit within %d ms", g_timeout_ms);
    }
    sleep_ms(10);
  }
  close(c->out);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("contender failed (status %d)", status);
}

/* ---- what /proc says about it ---- */

static FILE *proc_open(pid_t pid, const char *what) {
  char path[64];
  FILE *f;
  snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
  f = fopen(path, "r");
  if (!f) die("%s: %s", path, strerror(errno));
  return f;
}

/* The stat fields after the command name, which may hold spaces. */
static char *proc_stat_tail(pid_t pid, char *buf, size_t len) {
  FILE *f = proc_open(pid, "stat");
  char *tail;
  if (!fgets(buf, (int)len, f)) die("empty /proc/%d/stat", (int)pid);
  fclose(f);
  tail = strrchr(buf, ')');
  if (!tail) die("odd /proc/%d/stat", (int)pid);
  return tail + 2;
}

/* Busy ticks of all CPUs together: user nice system idle iowait irq softirq. */
static long long busy_ticks(void) {
  long long v[7];
  FILE *f = fopen("/proc/stat", "r");
  check(f != NULL, "/proc/stat");
  if (fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld", v, v + 1, v + 2, v + 3, v + 4, v + 5, v + 6) != 7)
    die("odd /proc/stat");
  fclose(f);
  return v[0] + v[1] + v[2] + v[5] + v[6];
}

/* The contender's CPU time comes from the kernel, not from the contender:
** getrusage only reports on oneself or on reaped children. schedstat has
** the scheduler's nanosecond count that getrusage sums. (The user/system
** split in /proc/PID/stat is tick-sampled: noise over a second.) */
static sample take(pid_t pid) {
  struct timespec ts;
  sample x;
  long long ns;
  FILE *f;
  x.t = now_ns();
  f = proc_open(pid, "schedstat");
  if (fscanf(f, "%lld", &ns) != 1) die("odd /proc/%d/schedstat", (int)pid);
  fclose(f);
  x.cpu = ns;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  x.self = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  x.busy = busy_ticks();
  return x;
}

static long rss_kib(pid_t pid) {
  char line[256];
  long kib = -1;
  FILE *f = proc_open(pid, "status");
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* SIGSTOP is asynchronous: wait until the process is really stopped
** (T, or t when a tracer such as strace sits on it). */
static void stop(pid_t pid) {
  char buf[1024];
  int waited;
  check(kill(pid, SIGSTOP) == 0, "SIGSTOP");
  for (waited = 0; waited < g_timeout_ms; waited++) {
    char state = *proc_stat_tail(pid, buf, sizeof(buf));
    if (state == 'T' || state == 't') return;
    sleep_ms(1);
  }
  die("contender did not stop");
}

/* Datagrams the kernel dropped on the socket bound to port (IPv6 table:
** the contender's socket is AF_INET6 even when it serves IPv4). */
static long long udp_drops(unsigned port) {
  char line[512];
  long long drops = -1;
  FILE *f = fopen("/proc/net/udp6", "r");
  check(f != NULL, "/proc/net/udp6");
  while (fgets(line, sizeof(line), f)) {
    unsigned p;
    char *last = strrchr(line, ' ');
    if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x", &p) == 1 && p == port && last)
      drops = atoll(last + 1);
  }
  fclose(f);
  if (drops < 0) die("port %u not in /proc/net/udp6", port);
  return drops;
}

/* A big backlog needs a receive buffer beyond net.core.rmem_max, which
** only SO_RCVBUFFORCE grants. We set it ourselves on a duplicate of the
** contender's socket (pidfd_getfd), so every contender gets the same. */
static void force_rcvbuf(const contender *c, int bytes) {
  int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0), fd;
  check(pidfd >= 0, "pidfd_open");
  fd = (int)syscall(SYS_pidfd_getfd, pidfd, c->fd, 0);
  check(fd >= 0, "pidfd_getfd");
  check(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0, "SO_RCVBUFFORCE");
  close(fd);
  close(pidfd);
}

/* ---- our side ---- */

static void set_timeout(int fd) {
  struct timeval tv = {g_timeout_ms / 1000, (g_timeout_ms % 1000) * 1000};
  check(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO");
}

/* A UDP socket of dest's family on that family's loopback address. */
static int udp_peer(const bench_addr *dest) {
  bench_addr me;
  int fd = socket(dest->ss.ss_family, SOCK_DGRAM, 0);
  check(fd >= 0, "socket");
  addr_parse(&me, dest->ss.ss_family == AF_INET ? "127.0.0.1" : "::1", 0);
  check(bind(fd, (struct sockaddr *)&me.ss, me.len) == 0, "bind");
  set_timeout(fd);
  return fd;
}

static int tcp_peer(const bench_addr *dest) {
  int fd = socket(dest->ss.ss_family, SOCK_STREAM, 0);
  check(fd >= 0, "socket");
  check(connect(fd, (struct sockaddr *)&dest->ss, dest->len) == 0, "connect");
  set_timeout(fd);
  return fd;
}

static int same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  } else {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
  }
}

/* bg: CPUs' busy time not spent by us or the contender, per second of
** the run: other processes disturbing the measurement (tick resolution). */
static void report(long long ops, sample a, sample b) {
  double tick = (double)sysconf(_SC_CLK_TCK), wall = (double)(b.t - a.t) / 1e9;
  double cpu = (double)(b.cpu - a.cpu) / 1e9, self = (double)(b.self - a.self) / 1e9;
  double others = (double)(b.busy - a.busy) / tick - cpu - self;
  printf("ops=%lld wall=%.6f cpu=%.6f bg=%.2f", ops, wall, cpu, others / wall);
}

/* ---- ping-pong ---- */

typedef struct pinger {
  int fd;
  bench_addr to;
  long long sent, got;
  unsigned char out[BENCH_DGRAM];
} pinger;

/* Every datagram is numbered so a lost, reordered or mangled reply shows. */
static void fill(unsigned char *buf, long long seq) {
  memset(buf, 0x5a, BENCH_DGRAM);
  memcpy(buf, &seq, sizeof(seq));
}

static void ping(pinger *p) {
  fill(p->out, p->sent);
  check(sendto(p->fd, p->out, BENCH_DGRAM, 0, (struct sockaddr *)&p->to.ss, p->to.len) == BENCH_DGRAM,
        "sendto");
  p->sent++;
}

/* Takes the next reply and checks its source, size and content. */
static void pong(pinger *p) {
  unsigned char in[BENCH_UDP_MAX], want[BENCH_DGRAM];
  struct sockaddr_storage from;
  socklen_t len = sizeof(from);
  ssize_t n = recvfrom(p->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &len);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    die("no reply to datagram %lld within %d ms", p->got, g_timeout_ms);
  check(n >= 0, "recvfrom");
  if (!same_endpoint(&from, &p->to.ss)) {
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    die("reply %lld came from %s port %u, not from %s port %u: the contender did not answer "
        "from the address it was asked on",
        p->got, addr_text((struct sockaddr *)&from, a, sizeof(a)), addr_port((struct sockaddr *)&from),
        addr_text((struct sockaddr *)&p->to.ss, b, sizeof(b)), addr_port((struct sockaddr *)&p->to.ss));
  }
  fill(want, p->got);
  if (n != BENCH_DGRAM || memcmp(in, want, BENCH_DGRAM))
    die("reply %lld is not the datagram sent (%zd bytes)", p->got, n);
  p->got++;
}

/* Exchanges datagrams until `until` replies have come, keeping up to
** window in flight but never sending past `until`. */
static void exchange(pinger *p, long long until, long long window) {
  while (p->got < until) {
    while (p->sent < until && p->sent - p->got < window) ping(p);
    pong(p);
  }
}

static void pingpong(const opts *o) {
  contender c;
  pinger p;
  long long end = o->warmup + o->count, rss0 = -1, rss1;
  sample a, b;
  spawn(&c, o, "echo", end);
  addr_parse(&p.to, o->dest, c.port);
  p.fd = udp_peer(&p.to);
  p.sent = p.got = 0;
  exchange(&p, o->warmup, o->window);
  a = take(c.pid);
  if (o->rss_at > 0) {
    exchange(&p, o->warmup + o->rss_at, o->window);
    rss0 = rss_kib(c.pid);
  }
  exchange(&p, end, o->window);
  b = take(c.pid);
  rss1 = rss_kib(c.pid);
  if (read_done(&c).count != end) die("contender counted %s round trips", c.line);
  finish(&c);
  report(o->count, a, b);
  if (o->rss_at > 0) printf(" rss0=%lld rss1=%lld", rss0, rss1);
  printf("\n");
  close(p.fd);
}

/* ---- receive capacity ---- */

/* Queues n copies of one datagram with sendmmsg (fewer syscalls: the
** queueing is not timed, but it should not take long either). */
static void queue(int fd, long long n, const unsigned char *payload) {
  enum { B = 256 };
  static struct mmsghdr v[B];
  static struct iovec iov;
  static unsigned char buf[BENCH_DGRAM];
  int i;
  memcpy(buf, payload, sizeof(buf));
  iov.iov_base = buf;
  iov.iov_len = sizeof(buf);
  for (i = 0; i < B; i++) {
    v[i].msg_hdr.msg_iov = &iov;
    v[i].msg_hdr.msg_iovlen = 1;
  }
  while (n > 0) {
    int k = sendmmsg(fd, v, n < B ? (unsigned)n : B, 0);
    check(k > 0, "sendmmsg");
    n -= k;
  }
}

/* The contender's view of dest: IPv4 arrives mapped on its dual socket. */
static void expect_dst(const char *dest, const char *seen) {
  struct in6_addr want, got;
  char mapped[64];
  snprintf(mapped, sizeof(mapped), strchr(dest, ':') ? "%s" : "::ffff:%s", dest);
  inet_pton(AF_INET6, mapped, &want);
  if (!strcmp(seen, "-")) return; /* a contender without pktinfo (LuaSocket) */
  if (inet_pton(AF_INET6, seen, &got) != 1 || memcmp(&want, &got, sizeof(want)))
    die("contender saw destination %s, sent to %s", seen, mapped);
}

/* What a drain contender says it read must be what was queued: n
** payloads of BENCH_DGRAM bytes, with their checksum when it gives one. */
static void expect_payloads(const done_line *d, long long n, const unsigned char *payload) {
  unsigned long long sum = (unsigned long long)n * bench_payload_sum(payload, BENCH_DGRAM);
  if (d->fields < 3) die("contender did not say how many payload bytes it read (done COUNT DST BYTES)");
  if (d->bytes != n * BENCH_DGRAM) die("contender read %lld payload bytes of %lld", d->bytes, n * BENCH_DGRAM);
  if (d->fields == 4 && d->sum != sum) die("contender's payload checksum is %llu, not %llu", d->sum, sum);
}

static void drain(const opts *o, const char *mode) {
  contender c;
  bench_addr to;
  done_line d;
  long long drops, got;
  unsigned char payload[BENCH_DGRAM];
  sample a, b;
  int fd;
  memset(payload, 0x5a, sizeof(payload));
  spawn(&c, o, mode, o->count);
  /* ~1 KiB of buffer accounting per small datagram; the kernel doubles it */
  force_rcvbuf(&c, o->count * 1024 < 0x3fffffff ? (int)(o->count * 1024) : 0x3fffffff);
  addr_parse(&to, o->dest, c.port);
  fd = udp_peer(&to);
  check(connect(fd, (struct sockaddr *)&to.ss, to.len) == 0, "connect");
  stop(c.pid);
  queue(fd, o->count, payload);
  if ((drops = udp_drops(c.port)) != 0)
    die("%lld of %lld datagrams dropped while queueing", drops, o->count);
  a = take(c.pid);
  check(kill(c.pid, SIGCONT) == 0, "SIGCONT");
  d = read_done(&c);
  b = take(c.pid);
  got = d.count;
  if (got != o->count) die("contender drained %lld of %lld", got, o->count);
  expect_dst(o->dest, d.dst);
  expect_payloads(&d, got, payload);
  finish(&c);
  report(got, a, b);
  printf("\n");
  close(fd);
}

/* ---- TCP bulk ---- */

static void tcp_in(const opts *o) {
  static char buf[BENCH_CHUNK];
  contender c;
  bench_addr to;
  long long left = o->count, got;
  sample a, b;
  int fd;
  memset(buf, 'x', sizeof(buf));
  spawn(&c, o, "tcp-in", 0);
  addr_parse(&to, o->dest, c.port);
  fd = tcp_peer(&to);
  a = take(c.pid);
  for (; left > 0; left -= BENCH_CHUNK) write_all(fd, buf, left < BENCH_CHUNK ? (size_t)left : sizeof(buf));
  check(shutdown(fd, SHUT_WR) == 0, "shutdown");
  got = read_done(&c).count;
  b = take(c.pid);
  if (got != o->count) die("contender read %lld of %lld bytes", got, o->count);
  finish(&c);
  report(got, a, b);
  printf("\n");
  close(fd);
}

/* Reads to EOF; checks the first chunk's bytes (checking all would make
** the peer the bottleneck) and the total. */
static long long read_all(int fd) {
  static char buf[BENCH_CHUNK];
  long long total = 0;
  ssize_t n, i;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    if (total == 0)
      for (i = 0; i < n; i++)
        if (buf[i] != 'x') die("byte %zd of the stream is %d, not 'x'", i, buf[i]);
    total += n;
  }
  if (n < 0 && errno == EAGAIN) die("TCP stream stalled for %d ms", g_timeout_ms);
  check(n == 0, "read");
  return total;
}

static void tcp_out(const opts *o) {
  contender c;
  bench_addr to;
  long long got;
  sample a, b;
  int fd;
  spawn(&c, o, "tcp-out", o->count);
  addr_parse(&to, o->dest, c.port);
  fd = tcp_peer(&to);
  a = take(c.pid);
  got = read_all(fd);
  b = take(c.pid);
  if (got != o->count) die("contender wrote %lld of %lld bytes", got, o->count);
  if (read_done(&c).count != got) die("contender counted %s", c.line);
  finish(&c);
  report(got, a, b);
  printf("\n");
  close(fd);
}

/* ---- main ---- */

static opts parse(int argc, char **argv) {
  opts o = {NULL, NULL, 0, "127.0.0.2", 10000, 1000, 1, 0, 10};
  int ch;
  while ((ch = getopt(argc, argv, "+d:n:w:W:r:t:")) != -1) {
    switch (ch) {
    case 'd': o.dest = optarg; break;
    case 'n': o.count = parse_count(optarg, "-n"); break;
    case 'w': o.warmup = parse_count(optarg, "-w"); break;
    case 'W': o.window = parse_count(optarg, "-W"); break;
    case 'r': o.rss_at = parse_count(optarg, "-r"); break;
    case 't': o.timeout_s = (int)parse_count(optarg, "-t"); break;
    default: exit(2);
    }
  }
  if (argc - optind < 2 || o.window < 1 || o.timeout_s < 1)
    die("usage: peer [-d addr] [-n N] [-w N] [-W N] [-r N] [-t S] pingpong|sink|mmsg|tcp-in|tcp-out CMD...");
  o.workload = argv[optind];
  o.cmd = argv + optind + 1;
  o.ncmd = argc - optind - 1;
  return o;
}

int main(int argc, char **argv) {
  opts o = parse(argc, argv);
  g_timeout_ms = o.timeout_s * 1000;
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(o.workload, "pingpong")) pingpong(&o);
  else if (!strcmp(o.workload, "sink") || !strcmp(o.workload, "mmsg")) drain(&o, o.workload);
  else if (!strcmp(o.workload, "tcp-in")) tcp_in(&o);
  else if (!strcmp(o.workload, "tcp-out")) tcp_out(&o);
  else die("unknown workload '%s'", o.workload);
  return 0;
}
