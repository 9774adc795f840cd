/* The engine's text files (journal, mtimes, <cache>/meta, the Dataset's manifest) write paths
 * and times the same way: a path %XX-escaped (controls, space, '%', DEL) so that it is one
 * field, a time in ns as "S.NNNNNNNNN". Leaf helpers: nothing here calls the rest of persist/. */
#include "persist_internal.h"

#include <errno.h>
#include <stdio.h>

/* ---- paths --------------------------------------------------------------------------------- */
void persist_put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == '%' || c == 0x7f)
            fprintf(f, "%%%02X", c);
        else
            fputc(c, f);
    }
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* Exactly two hex digits after each '%' and never %00: a '%' at the end of the string (a
 * damaged manifest from the Dataset) made the old sscanf("%2X") step past the NUL. */
int persist_unescape(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '%') {
            int hi = hex_digit(s[1]), lo = hi < 0 ? -1 : hex_digit(s[2]);
            if (lo < 0 || (hi | lo) == 0)
                return -EINVAL;
            *w++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return 0;
}
