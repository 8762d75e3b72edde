/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * A minimal TAP producer for the unit tests of the pure-C parts.  Each
 * test program prints "ok N - what" or "not ok N - what" per check and a
 * final plan; t/002-unit.t runs every program and reports each line.
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>


static int  tap_count;
static int  tap_failed;


static int
ok(int passed, const char *fmt, ...)
{
    va_list  args;

    tap_count++;

    if (!passed) {
        tap_failed++;
    }

    printf("%s %d - ", passed ? "ok" : "not ok", tap_count);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
    fflush(stdout);

    return passed;
}


static void
diag(const char *fmt, ...)
{
    va_list  args;

    printf("# ");

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static int
done_testing(void)
{
    printf("1..%d\n", tap_count);

    return tap_failed ? 1 : 0;
}


#endif /* _TAP_H_INCLUDED_ */
