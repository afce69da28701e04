/*
 * Fuzz target: what gn__eio_serve reads of a request's query before any
 * session is looked up: the query parameters (gn__eio_query_get, on the
 * bytes of a client's query string) and the sid's owner
 * (gn__eio_sid_owner, which decides whether a request is this worker's or
 * another's). Beside memory safety it checks that a decoded parameter
 * fits and holds no NUL, that an owner is a positive pid only for a
 * 20-character base64url sid, and that the sid made for that pid names
 * it again (gn__eio_sid_make).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/eio.h"
#include "socketio/handshake.h"
#include "socketio/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_owner(const char *sid)
{
    char again[GN_EIO_SID_LEN + 1];
    pid_t pid = gn__eio_sid_owner(sid);

    if (pid == -1)
        return;
    if (pid <= 0 || strlen(sid) != GN_EIO_SID_LEN ||
        strspn(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789-_") != GN_EIO_SID_LEN)
        abort();
    gn__eio_sid_make(again, pid);
    if (gn__eio_sid_owner(again) != pid || memcmp(again, sid, 5) != 0)
        abort(); /* the pid's 4 bytes: the first 5 characters, and 2 bits */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"EIO", "transport", "sid", "t"};
    char *query = malloc(size + 1);
    char out[64];

    if (query == NULL)
        return 0;
    memcpy(query, data, size);
    query[size] = '\0'; /* a query string is NUL-terminated text */
    check_owner(query);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        long n = gn__eio_query_get(query, names[i], out, sizeof(out));

        if (n >= 0 && ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n))
            abort();
        if (n >= 0 && i == 2)
            check_owner(out);
    }
    free(query);
    return 0;
}
