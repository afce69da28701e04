/*
 * Fuzz target: the chunked body decoder (llhttp behind http/parse.c,
 * with limit_request_body) on arbitrary body bytes after a fixed chunked
 * head. The first two input bytes choose how many bytes are fed per call
 * and how much room the reader offers, as gn_request_read callers vary.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char head[] = "POST /upload HTTP/1.1\r\nHost: fuzz\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n";
static const struct gn_http_limits limits = {
    .request_line = 4094,
    .fields = 100,
    .field_size = 8190,
    .head = 32768,
    .body = 65536,
};

/* Decode the body of BUF[pos, len) in steps; abort on a broken
 * invariant. */
static void decode(struct gn_http_parser *p, struct gn_request *req, char *buf,
                   size_t pos, size_t len, size_t step, size_t room)
{
    char *out = malloc(room);
    size_t used, end, total = 0, start = pos;
    enum gn_http_event ev;

    do {
        p->out = out;
        p->room = room;
        p->got = 0;
        end = len - pos > step ? pos + step : len;
        if (end - pos > room)
            end = pos + room;
        ev = gn__http_execute(p, buf, pos, end, &used);
        if (used > end - pos || p->got > room)
            abort();
        if (ev == GN_HTTP_ERROR)
            break; /* what this call decoded is void: the body is bad */
        pos += used;
        total += p->got;
    } while (ev == GN_HTTP_MORE && pos < len);
    /* Decoded bytes come from the input: never more of them. */
    if (total > pos - start || (ev == GN_HTTP_DONE && !req->body_done))
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_http_parser p;
    struct gn_request *req = malloc(sizeof(*req));
    size_t len, used;
    char *buf;
    const char *why;

    if (size < 2 || req == NULL) {
        free(req);
        return 0;
    }
    len = sizeof(head) - 1 + size - 2;
    buf = malloc(len);
    memcpy(buf, head, sizeof(head) - 1);
    memcpy(buf + sizeof(head) - 1, data + 2, size - 2);
    gn__http_parser_init(&p, &limits);
    gn__request_init(req, NULL, &p);
    gn__http_parser_begin(&p, req);
    if (gn__http_execute(&p, buf, 0, len, &used) != GN_HTTP_HEAD ||
        gn__request_finish_head(req, buf, &why) != 0)
        abort(); /* the fixed head is valid */
    decode(&p, req, buf, used, len, data[0] ? data[0] : len,
           data[1] ? data[1] : 1);
    gn__request_release(req);
    free(buf);
    free(req);
    return 0;
}
