/*
 * A stand-in for python.exe in the wine tests of the native launcher.
 * Prints one JSON object on stdout:
 *   {"argv": [...as CommandLineToArgvW parses our command line...],
 *    "exe": <own path>, "PYTHONPATH": <value or null>,
 *    "CODETRACER_ORIG_PYTHONPATH": <value or null>,
 *    "CODETRACER_FORMAT": <value or null>}
 * and exits with the status in %STANDIN_EXIT% (0 when unset).
 */
#ifndef UNICODE
#define UNICODE
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>

static void put_json_string(const wchar_t *w)
{
    if (!w) {
        fputs("null", stdout);
        return;
    }
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = (char *)malloc((size_t)n);
    WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
    free(s);
}

static wchar_t *env(const wchar_t *name)
{
    static wchar_t buf[32768];
    SetLastError(0);
    DWORD n = GetEnvironmentVariableW(name, buf, 32768);
    if (n == 0 && GetLastError() == ERROR_ENVVAR_NOT_FOUND)
        return NULL;
    return buf;
}

int main(void)
{
    int argc = 0;
    wchar_t **argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    wchar_t self[4096];
    GetModuleFileNameW(NULL, self, 4096);
    fputs("{\"argv\": [", stdout);
    for (int i = 0; i < argc; i++) {
        if (i)
            fputs(", ", stdout);
        put_json_string(argv[i]);
    }
    fputs("], \"exe\": ", stdout);
    put_json_string(self);
    fputs(", \"PYTHONPATH\": ", stdout);
    put_json_string(env(L"PYTHONPATH"));
    fputs(", \"CODETRACER_ORIG_PYTHONPATH\": ", stdout);
    put_json_string(env(L"CODETRACER_ORIG_PYTHONPATH"));
    fputs(", \"CODETRACER_FORMAT\": ", stdout);
    put_json_string(env(L"CODETRACER_FORMAT"));
    fputs("}\n", stdout);
    fflush(stdout);
    wchar_t *code = env(L"STANDIN_EXIT");
    return code ? _wtoi(code) : 0;
}
