/* Calls a TiNG_showtrace-style sink, which takes a va_list; Rust cannot build one. */
#include <stdarg.h>

typedef int (*prossntp_showtrace_fn)(const char *fmt, va_list ap);

static int call_with_va_list(prossntp_showtrace_fn sink, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = sink(fmt, ap);
    va_end(ap);
    return rc;
}

int prossntp_call_showtrace(void *sink, const char *line)
{
    return call_with_va_list((prossntp_showtrace_fn)sink, "%s\n", line);
}
