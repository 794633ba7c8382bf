/*
** Waiting and deadlines, no Lua: a socket with a timeout is non-blocking,
** and a call that would block waits here with the backend's poll until
** the per-call deadline. A socket without a timeout blocks in the system
** call itself, so the common case costs one system call and no clock
** reads.
*/
#include "core.h"

#include <limits.h>

double ds_now(void) {
  return ds_sys_monotonic();
}

/* Negative timeout: no deadline. */
double ds_deadline(double timeout) {
  return timeout < 0 ? -1.0 : ds_now() + timeout;
}

/* Milliseconds for one poll with left seconds to go, rounded up so a
** wait never spins. Beyond INT_MAX ms (24.8 days; an infinite timeout) the
** conversion would be undefined: the wait is cut there and ds_poll's loop
** polls again. */
static int poll_ms(double left) {
  double ms;
  if (left <= 0) return 0;
  ms = left * 1000.0 + 0.999;
  return ms >= (double)INT_MAX ? INT_MAX : (int)ms;
}

/* Polls p[0..n) until one is ready (0), the deadline passes (ETIMEDOUT),
** or poll fails (errno). Always looks once, so a passed deadline still
** reports what is ready now; signals restart it with the time that is left.
** Errors and hangups count as ready: the next call on the socket reports them. */
int ds_poll(ds_pollfd *p, unsigned n, double deadline) {
  for (;;) {
    int ms = -1, got;
    if (deadline >= 0) ms = poll_ms(deadline - ds_now());
    got = ds_sys_poll(p, n, ms);
    if (got > 0) return 0;
    if (got == 0 && deadline >= 0 && ds_now() >= deadline) return ETIMEDOUT;
    if (got < 0 && (got = ds_sys_error()) != EINTR) return got;
  }
}

/* 0 when fd is ready for events, ETIMEDOUT past the deadline, else errno. */
int ds_wait(ds_fd fd, short events, double deadline) {
  ds_pollfd p;
  p.fd = fd;
  p.events = events;
  p.revents = 0;
  return ds_poll(&p, 1, deadline);
}

/* A call would block: waits for fd within the call's one deadline. The
** deadline is computed on the first wait only (from DS_DEADLINE_UNSET),
** so calls that never block read no clock and later waits of the same
** call share it. A zero timeout reports ETIMEDOUT at once. A later wait
** past the deadline does too: the call was just tried and would block, so
** a socket poll keeps calling ready (POLLERR of an error queue nobody
** reads) cannot make the call spin past its deadline. */
int ds_wait_ready(ds_fd fd, short events, double timeout, double *deadline) {
  if (timeout == 0) return ETIMEDOUT;
  if (*deadline == DS_DEADLINE_UNSET) *deadline = ds_deadline(timeout);
  else if (*deadline >= 0 && ds_now() >= *deadline) return ETIMEDOUT; /* below */
  return ds_wait(fd, events, *deadline);
}

/* After a dropped datagram: has the call's deadline passed? A stream of
** spoofed datagrams never lets the socket wait, so it is checked here too.
** The first drop only starts the clock: even a zero timeout reads on. */
int ds_deadline_passed(double timeout, double *deadline) {
  if (timeout < 0) return 0;
  if (*deadline == DS_DEADLINE_UNSET) {
    *deadline = ds_deadline(timeout);
    return 0;
  }
  return ds_now() >= *deadline;
}

/* recverr (issue 17): ds_wait_ready, with the events that were reported
** (*revents, 0 when none): POLLERR without the awaited event means only
** that an error is queued. */
int ds_wait_ready_ev(ds_fd fd, short events, double timeout, double *deadline, short *revents) {
  ds_pollfd p;
  int err;
  *revents = 0;
  if (timeout == 0) return ETIMEDOUT;
  if (*deadline == DS_DEADLINE_UNSET) *deadline = ds_deadline(timeout);
  else if (*deadline >= 0 && ds_now() >= *deadline) return ETIMEDOUT; /* as ds_wait_ready */
  p.fd = fd;
  p.events = events;
  p.revents = 0;
  if ((err = ds_poll(&p, 1, *deadline)) == 0) *revents = p.revents;
  return err;
}

/* Local sockets (issue 17): a wait that no event can end. A connect to a
** full backlog says EAGAIN, and poll calls the unconnected socket writable
** at once (Linux), so waiting on it spins. Sleeps DS_NAP_MS at most, within
** the call's one deadline (as ds_wait_ready: ETIMEDOUT once it has passed,
** at once for a zero timeout); the caller then tries again. */
#define DS_NAP_MS 10
int ds_nap(double timeout, double *deadline) {
  int ms = DS_NAP_MS;
  if (timeout == 0) return ETIMEDOUT;
  if (*deadline == DS_DEADLINE_UNSET) *deadline = ds_deadline(timeout);
  else if (*deadline >= 0 && ds_now() >= *deadline) return ETIMEDOUT;
  if (*deadline >= 0) {
    int left = poll_ms(*deadline - ds_now());
    if (left < ms) ms = left;
  }
  (void)ds_sys_poll(NULL, 0, ms); /* no descriptor: a sleep (EINTR: tried again early) */
  return 0;
}
