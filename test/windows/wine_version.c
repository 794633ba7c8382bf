/*
** Says whether this Windows program runs under Wine: Wine's ntdll exports
** wine_get_version, Windows's does not (what issue 14's specs use to skip
** what Wine lacks). Prints "wine 8.0" or "windows"; exit status 0 either way.
*/
#include <stdio.h>
#include <windows.h>

typedef const char *(*wine_version_fn)(void);

int main(void) {
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  FARPROC p = ntdll ? GetProcAddress(ntdll, "wine_get_version") : NULL;
  wine_version_fn version;
  if (!p) {
    puts("windows");
    return 0;
  }
  /* A FARPROC cast to the real type: the documented way to call it. */
  version = (wine_version_fn)(void (*)(void))p;
  printf("wine %s\n", version());
  return 0;
}
