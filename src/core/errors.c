/*
** The errno table: the portable symbolic name of each error the module
** reports, and its message. Messages follow LuaSocket's wording where it
** has one ("closed", "timeout", "connection refused") so code written
** against LuaSocket keeps working. The Lua side is ../errors.c.
*/
#include "core.h"

#include <string.h>

typedef struct ds_errinfo {
  int err;
  const char *name;
  const char *message; /* NULL: use strerror */
} ds_errinfo;

#define E(x, msg) { x, #x, msg }

static const ds_errinfo errtable[] = {
  E(ETIMEDOUT, "timeout"),
  E(ECONNRESET, "closed"),
  E(ECONNABORTED, "closed"),
  E(EPIPE, "closed"),
  E(ECONNREFUSED, "connection refused"),
  E(EADDRINUSE, "address already in use"),
  E(EADDRNOTAVAIL, "address not available"),
  E(EISCONN, "already connected"),
  E(ENOTCONN, "not connected"),
  E(EACCES, "permission denied"),
  E(EPERM, "operation not permitted"),
  E(EAFNOSUPPORT, "address family not supported"),
  E(EPROTONOSUPPORT, "protocol not supported"),
  E(ENOPROTOOPT, "protocol option not available"),
  E(EINVAL, "invalid argument"),
  E(EMSGSIZE, "message too long"),
  E(ENETUNREACH, "network unreachable"),
  E(EHOSTUNREACH, "host unreachable"),
  E(ENETDOWN, "network down"),
  E(EINPROGRESS, "operation in progress"),
  E(EALREADY, "operation already in progress"),
  E(EBADF, "bad file descriptor"),
  E(ENOTSOCK, "not a socket"),
  E(EMFILE, "too many open files"),
  E(ENFILE, "too many open files in system"),
  E(ENOBUFS, "no buffer space available"),
  E(ENOMEM, "out of memory"),
  E(EINTR, "interrupted"),
  E(ENODEV, "no such device"),
  E(ENXIO, "no such device or address"),
  E(EOPNOTSUPP, "operation not supported"),
  E(EDESTADDRREQ, "destination address required"),
  E(EPROTOTYPE, "wrong protocol type for socket"),
  E(ESHUTDOWN, "closed"),
  E(EHOSTDOWN, "host down"),
  E(ENETRESET, "network reset"),
  E(ENOENT, "no such file or directory"),
  E(EIO, "input/output error"),
};

#undef E

static const ds_errinfo *lookup(int err) {
  size_t i;
  for (i = 0; i < sizeof(errtable) / sizeof(errtable[0]); i++)
    if (errtable[i].err == err) return &errtable[i];
  return NULL;
}

/* What a caller is told an error is: the sockets are non-blocking inside,
** so a would-block result (EAGAIN, EWOULDBLOCK: maybe one value) is always
** the timeout it means to the caller. The one place that says so. */
int ds_err_as_seen(int err) {
  return err == EAGAIN || err == EWOULDBLOCK ? ETIMEDOUT : err;
}

/* The table's name for err (as seen), or NULL for one it does not know. */
const char *ds_errname_known(int err) {
  const ds_errinfo *e = lookup(ds_err_as_seen(err));
  return e ? e->name : NULL;
}

const char *ds_errmessage(int err) {
  const ds_errinfo *e = lookup(err = ds_err_as_seen(err));
  return (e && e->message) ? e->message : strerror(err);
}

/* getaddrinfo's codes: name and message (glibc's wording), the same on
** every platform whatever its own text. EAI_NODATA is a code of its own
** on Windows, an alias of EAI_NONAME on some systems, absent on others. */
#define E(x, msg) { x, #x, msg }

static const ds_errinfo gaitable[] = {
  E(EAI_AGAIN, "Temporary failure in name resolution"),
  E(EAI_BADFLAGS, "Bad value for ai_flags"),
  E(EAI_FAIL, "Non-recoverable failure in name resolution"),
  E(EAI_FAMILY, "ai_family not supported"),
  E(EAI_MEMORY, "Memory allocation failure"),
  E(EAI_NONAME, "Name or service not known"),
  E(EAI_SERVICE, "Servname not supported for ai_socktype"),
  E(EAI_SOCKTYPE, "ai_socktype not supported"),
#if defined(EAI_NODATA) && EAI_NODATA != EAI_NONAME
  E(EAI_NODATA, "No address associated with hostname"),
#endif
#if defined(EAI_ADDRFAMILY)
  E(EAI_ADDRFAMILY, "Address family for hostname not supported"),
#endif
};

#undef E

/* A code this table does not know is a failure. */
static const ds_errinfo *gai_lookup(int code) {
  size_t i;
  for (i = 0; i < sizeof(gaitable) / sizeof(gaitable[0]); i++)
    if (gaitable[i].err == code) return &gaitable[i];
  return &gaitable[2]; /* EAI_FAIL */
}

const char *ds_gai_errname(int code) {
  return gai_lookup(code)->name;
}

const char *ds_gai_message(int code) {
  return gai_lookup(code)->message;
}
