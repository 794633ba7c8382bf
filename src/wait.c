/*
** A socket's blocked call: the thin wrapper over core/wait.c that reads
** the socket's timeout and remembers what it waits for.
*/
#include "ds.h"

/* After a system call failed: 0 to try it again (a signal interrupted it,
** or the socket became ready), else the error to report. One deadline per
** call (ds_wait_ready starts it on the first wait). The direction that
** would block is remembered for event loops (the pollable protocol). */
int ds_retry(ds_socket *s, short events, double *deadline) {
  int err = errno;
  if (err == EINTR) return 0;
  if (err != EAGAIN && err != EWOULDBLOCK) return err;
  s->want = events;
  return ds_wait_ready(s->fd, events, s->timeout, deadline);
}
