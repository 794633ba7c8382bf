/*
** Local socket names (AF_UNIX) to and from text. A path is NUL-terminated
** in sun_path; a Linux abstract name starts with a NUL byte and is as long
** as the address says, so the length of a sockaddr counts, not a NUL.
** Text "@name" is an abstract name (its bytes may hold NULs), "@" alone
** asks Linux to autobind, "" is an unnamed socket. Only Linux has abstract
** names (DS_HAVE_ABSTRACT_UNIX): elsewhere "@..." is refused
** (DS_PATH_NOABSTRACT) and a leading NUL is no name but an unnamed socket
** (a BSD kernel may give one zeroed sun_path bytes).
*/
#include "core.h"

#include <stddef.h>
#include <string.h>

#define SUN_OFFSET offsetof(struct sockaddr_un, sun_path)

#if defined(DS_HAVE_ABSTRACT_UNIX)
#define ABSTRACT_HERE 1
#else
#define ABSTRACT_HERE 0
#endif

int ds_unix_to_sockaddr(const char *text, size_t len, ds_sockaddr *sa) {
  return ds_unix_to_sockaddr_as(text, len, sa, ABSTRACT_HERE);
}

size_t ds_sockaddr_to_unix(const ds_sockaddr *sa, char out[DS_UNIX_PATH_MAX + 2]) {
  return ds_sockaddr_to_unix_as(sa, out, ABSTRACT_HERE);
}

/* text[0..len) into sa: DS_PATH_OK, or why it is no name (here: with
** abstract names or without). */
int ds_unix_to_sockaddr_as(const char *text, size_t len, ds_sockaddr *sa, int has_abstract) {
  struct sockaddr_un *un = (struct sockaddr_un *)&sa->u.ss;
  int abstract = len > 0 && text[0] == '@';
  if (len == 0) return DS_PATH_EMPTY;
  if (abstract && !has_abstract) return DS_PATH_NOABSTRACT;
  if (len > DS_UNIX_PATH_MAX + (size_t)abstract) return DS_PATH_LONG;
  if (!abstract && memchr(text, '\0', len)) return DS_PATH_NUL;
  memset(un, 0, sizeof(*un));
  un->sun_family = AF_UNIX;
  if (abstract) {
    memcpy(un->sun_path + 1, text + 1, len - 1); /* sun_path[0] stays 0 */
    /* "@" alone: just the family, which asks the kernel for a name */
    sa->len = (socklen_t)(len == 1 ? sizeof(un->sun_family) : SUN_OFFSET + len);
  } else {
    memcpy(un->sun_path, text, len);
    sa->len = (socklen_t)(SUN_OFFSET + len + 1);
  }
  return DS_PATH_OK;
}

/* The text of sa (of sa->len bytes) into out; returns its length. A
** leading NUL is an abstract name only with abstract names here and a
** byte after it; otherwise it is an unnamed socket: "". */
size_t ds_sockaddr_to_unix_as(const ds_sockaddr *sa, char out[DS_UNIX_PATH_MAX + 2], int has_abstract) {
  const struct sockaddr_un *un = (const struct sockaddr_un *)&sa->u.ss;
  size_t n;
  if (sa->len <= (socklen_t)SUN_OFFSET || un->sun_family != AF_UNIX) return 0; /* unnamed */
  n = (size_t)sa->len - SUN_OFFSET;
  if (n > sizeof(un->sun_path)) n = sizeof(un->sun_path);
  if (un->sun_path[0] == '\0' && (!has_abstract || n < 2)) return 0; /* unnamed */
  if (un->sun_path[0] == '\0') { /* abstract: every byte counts */
    out[0] = '@';
    memcpy(out + 1, un->sun_path + 1, n - 1);
    return n;
  }
  {
    const char *end = memchr(un->sun_path, '\0', n);
    if (end) n = (size_t)(end - un->sun_path);
  }
  memcpy(out, un->sun_path, n);
  return n;
}
