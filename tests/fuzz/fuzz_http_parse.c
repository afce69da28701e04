/*
 * Fuzz target: the HTTP request framing (http/parse.c and the head
 * finishing of http/request.c), driven the way http/serve.c drives it:
 * heads and bodies of pipelined requests, fed in pieces whose size the
 * input's first byte chooses. Each head's client is then taken from its
 * X-Forwarded-For lines behind a set of trusted proxies (config/ipset.c's
 * address reading, IPv4 by hand), as from a trusted peer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/ipset.h"
#include "http/parse.h"
#include "http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so the fuzzer reaches them. */
static const struct gn_http_limits limits = {
    .request_line = 256,
    .fields = 16,
    .field_size = 128,
    .head = 1024,
    .body = 4096,
};

/* The proxies trusted for X-Forwarded-For, parsed at the first input. */
static struct gn_ipset trusted;

static const struct gn_ipset *trusted_set(void)
{
    static int parsed;
    char err[128];

    if (!parsed && gn__ipset_parse(&trusted,
                                   "127.0.0.1, 10.0.0.0/8, 192.0.2.0/25, "
                                   "::1, 2001:db8::/32",
                                   err, sizeof(err)) != 0)
        abort();
    parsed = 1;
    return &trusted;
}

/* Parse one message from BUF[*pos, len). 0 to go on with the next. */
static int one_message(struct gn_http_parser *p, struct gn_request *req,
                       char *buf, size_t len, size_t *pos, size_t step)
{
    char body[512];
    const char *why;
    size_t used, end;
    enum gn_http_event ev = GN_HTTP_MORE;

    gn__request_init(req, NULL, p);
    gn__http_parser_begin(p, req);
    while (ev != GN_HTTP_HEAD) {
        if (*pos == len)
            return -1;
        end = len - *pos > step ? *pos + step : len;
        ev = gn__http_execute(p, buf, *pos, end, &used);
        *pos += used;
        if (ev == GN_HTTP_ERROR)
            return -1;
    }
    req->head_end = *pos;
    if (gn__request_finish_head(req, buf, &why) != 0)
        return -1;
    gn__request_set_peer(req, "127.0.0.1", 5555, trusted_set());
    if (req->remote_addr == NULL || strlen(req->remote_addr) >= 46)
        abort(); /* an address that is no address */
    while (!req->body_done) {
        p->out = body;
        p->room = sizeof(body);
        p->got = 0;
        end = len - *pos > sizeof(body) ? *pos + sizeof(body) : len;
        ev = gn__http_execute(p, buf, *pos, end, &used);
        *pos += used;
        if (ev == GN_HTTP_ERROR || (ev == GN_HTTP_MORE && *pos == len))
            return -1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_http_parser p;
    struct gn_request *req = malloc(sizeof(*req));
    size_t pos = 0, step;
    char *buf;

    if (size < 1 || req == NULL) {
        free(req);
        return 0;
    }
    step = data[0] ? data[0] : size;
    buf = malloc(size - 1 + 1);
    memcpy(buf, data + 1, size - 1);
    gn__http_parser_init(&p, &limits);
    while (one_message(&p, req, buf, size - 1, &pos, step) == 0)
        gn__request_release(req);
    gn__request_release(req);
    free(buf);
    free(req);
    return 0;
}
