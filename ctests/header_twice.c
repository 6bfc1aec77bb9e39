/*
 * header_twice.c: prossntp.h must survive being included twice, as every C
 * header does (a program's own headers often include it, and so does its
 * .c file). Compiling this file is the test; run.sh reports a compile error
 * as a failure. The original's typedefs and declarations all sit inside its
 * include guard.
 */
#include <stddef.h>

#include "prossntp.h"
#include "prossntp.h"

int main(void)
{
    SM_SNTP_DESTROY_FN destroy = sm_sntp_destroy;
    return destroy(NULL) == 0 ? 0 : 1;
}
