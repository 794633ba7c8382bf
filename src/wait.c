/*
** Waiting: a socket with a timeout is non-blocking, and a call that would
** block waits here with poll(2) until the per-call deadline. A socket
** without a timeout blocks in the system call itself, so the common case
** costs one system call and no clock reads.
*/
#include "ds.h"

#include <time.h>

double ds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Negative timeout: no deadline. */
double ds_deadline(double timeout) {
  return timeout < 0 ? -1.0 : ds_now() + timeout;
}

/* 0 when fd is ready for events, ETIMEDOUT past the deadline, else errno.
** Signals restart the wait with the time that is left. */
int ds_wait(int fd, short events, double deadline) {
  struct pollfd p;
  p.fd = fd;
  p.events = events;
  for (;;) {
    int ms = -1, n;
    if (deadline >= 0) {
      double left = deadline - ds_now();
      if (left <= 0) return ETIMEDOUT;
      ms = (int)(left * 1000.0 + 0.999); /* round up: never spin at 0 ms */
    }
    p.revents = 0;
    n = poll(&p, 1, ms);
    if (n > 0) return 0; /* errors and hangups: the next call reports them */
    if (n == 0) {
      if (deadline >= 0 && ds_now() >= deadline) return ETIMEDOUT;
      continue;
    }
    if (errno != EINTR) return errno;
  }
}

/* After a system call failed: 0 to try it again (a signal interrupted it,
** or the socket became ready), else the error to report. The deadline is
** computed on the first wait only, so calls that never block read no
** clock. A zero timeout reports ETIMEDOUT at once. The direction that
** would block is remembered for event loops (the pollable protocol). */
int ds_retry(ds_socket *s, short events, double *deadline) {
  int err = errno;
  if (err == EINTR) return 0;
  if (err != EAGAIN && err != EWOULDBLOCK) return err;
  s->want = events;
  if (s->timeout == 0) return ETIMEDOUT;
  if (*deadline == DS_DEADLINE_UNSET) *deadline = ds_deadline(s->timeout);
  return ds_wait(s->fd, events, *deadline);
}
