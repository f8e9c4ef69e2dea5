/* Stand-in for python.exe in the wine smoke test of the .cmd shims: prints
   its arguments, the PYTHONPATH variables and CODETRACER_FORMAT, one per line, as UTF-8, and
   exits with %SHIMTEST_RC%. */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

static void put(const char *label, const wchar_t *value) {
  char buf[16384];
  if (!value) { printf("%s\n", label); return; }
  WideCharToMultiByte(CP_UTF8, 0, value, -1, buf, sizeof buf, NULL, NULL);
  printf("%s=%s\n", label, buf);
}

int wmain(int argc, wchar_t **argv) {
  for (int i = 1; i < argc; i++) put("arg", argv[i]);
  put("PYTHONPATH", _wgetenv(L"PYTHONPATH"));
  put("ORIG", _wgetenv(L"CODETRACER_ORIG_PYTHONPATH"));
  put("FORMAT", _wgetenv(L"CODETRACER_FORMAT"));
  const wchar_t *rc = _wgetenv(L"SHIMTEST_RC");
  return rc ? _wtoi(rc) : 0;
}
