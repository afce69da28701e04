/*
 * permessage-deflate (RFC 7692) over zlib: the offer parser and chooser,
 * and a connection's compressor and inflater (see deflate.h for the
 * contract). The memory design, measured in tests/unit (bytes zlib asks
 * for, through our allocator):
 *
 *   - Without context takeover (the default policy) a message's zlib state
 *     is dead once the message is done. So compressing, which never
 *     yields, uses a deflate stream shared by the thread (one per window
 *     size, 268 KB at 15 bits, reset per message), and so does inflating a
 *     message that arrives in one piece. Only a message whose frames
 *     arrive apart holds an inflater of its own (~7 KB + 32 KB), freed
 *     with its last frame. An idle connection holds its struct only.
 *   - With context takeover the state is the connection's for its life:
 *     an inflater sized to the client's window, and a compressor with a
 *     13-bit window and memLevel 6 (~70 KB instead of zlib's default
 *     268 KB; the client inflates any window up to 15 bits).
 */
#include "websocket/deflate.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* zlib's level 6 (its default, Node ws's too). Measured with
 * tests/unit/bench_ws_deflate.c on JSON: on 1 KB messages level 1 is no
 * faster (the per-message cost dominates) and 5% bigger; on 64 KB it is
 * 3x faster but 30% bigger, and level 9 half as fast for 1% less. */
#define LEVEL 6
/* Once per thread: zlib's default. memLevel 4, whose reset clears a
 * 4 KB hash instead of 64 KB, saved 0.3 us on a 32-byte message (of
 * 2.2) and cost 3 us on a 1 KB one. */
#define SHARED_MEMLEVEL 8
#define TAKEOVER_WBITS 13 /* per connection: 4x less than 15 bits */
#define TAKEOVER_MEMLEVEL 6
#define MIN_GROW 4096
/* zlib counts in uInt: feed it at most this much at a time. */
#define ZCHUNK ((size_t)1 << 30)

static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};

struct gn_ws_deflate {
    struct gn_ws_deflate_params p;
    z_stream *def;   /* own compressor (takeover), or NULL */
    z_stream *inf;   /* own inflater (takeover, or a message in pieces) */
    size_t zbytes;   /* bytes zlib holds for def and inf */
    bool inflating;  /* a message is under way in inf */
    bool ended;      /* ... and its final block has been seen */
};

/* The thread's shared streams: deflaters by window bits, one inflater. */
static _Thread_local z_stream *shared_def[16];
static _Thread_local z_stream *shared_inf;
static _Thread_local size_t shared_bytes;

void gn__ws_deflate_policy_default(struct gn_ws_deflate_policy *pol)
{
    pol->enabled = true;
    pol->takeover = false;
    pol->client_window_bits = 15;
}

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */
/* ------------------------------------------------------------------ */

/* An offer's parameters as read; 0 / false: absent. */
struct offer {
    bool snct, cnct;
    bool has_smwb, has_cmwb;
    int smwb;  /* 8..15 */
    int cmwb;  /* 0: no value, else 8..15 */
};

struct lex {
    const char *p, *end;
};

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(struct lex *x)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t'))
        x->p++;
}

/* A token at X into TOK/N; false when there is none. */
static bool lex_token(struct lex *x, const char **tok, size_t *n)
{
    const char *s = x->p;

    while (x->p < x->end && is_tchar((unsigned char)*x->p))
        x->p++;
    *tok = s;
    *n = (size_t)(x->p - s);
    return *n > 0;
}

/* A quoted-string at X, always read to its closing quote so that a bad
 * one leaves X past it. Unescaped into BUF (CAP bytes, NUL-terminated)
 * when it fits, else BUF is "!" (no valid value of ours is that long).
 * False when unterminated or holding a control character. */
static bool lex_quoted(struct lex *x, char *buf, size_t cap)
{
    size_t n = 0;
    bool ok = true;

    x->p++; /* the opening quote */
    while (x->p < x->end && *x->p != '"') {
        if (*x->p == '\\' && ++x->p == x->end)
            return false;
        if ((unsigned char)*x->p < 0x20 && *x->p != '\t')
            ok = false;
        if (n + 1 < cap)
            buf[n] = *x->p;
        n++;
        x->p++;
    }
    if (x->p == x->end)
        return false;
    x->p++;
    if (n + 1 > cap)
        strcpy(buf, "!");
    else
        buf[n] = '\0';
    return ok;
}

/* Past the rest of a list element: to its comma (outside quotes) or end. */
static void skip_element(struct lex *x)
{
    bool quoted = false;

    for (; x->p < x->end; x->p++) {
        if (quoted && *x->p == '\\' && x->p + 1 < x->end)
            x->p++;
        else if (*x->p == '"')
            quoted = !quoted;
        else if (!quoted && *x->p == ',')
            return;
    }
}

static bool name_is(const char *tok, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(tok, name, n) == 0;
}

/* "8" .. "15", no leading zero (RFC 7692 section 7.1.2); else 0. */
static int window_bits(const char *v)
{
    if (v[0] >= '8' && v[0] <= '9' && v[1] == '\0')
        return v[0] - '0';
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
        return 10 + v[1] - '0';
    return 0;
}

/* Record the parameter NAME[=VAL] (VAL NULL: no value) in O; false when
 * it is unknown, repeated or has a bad value. */
static bool apply_param(struct offer *o, const char *tok, size_t n,
                        const char *val)
{
    if (name_is(tok, n, "server_no_context_takeover")) {
        if (o->snct || val != NULL)
            return false;
        return o->snct = true;
    }
    if (name_is(tok, n, "client_no_context_takeover")) {
        if (o->cnct || val != NULL)
            return false;
        return o->cnct = true;
    }
    if (name_is(tok, n, "server_max_window_bits")) {
        if (o->has_smwb || val == NULL || (o->smwb = window_bits(val)) == 0)
            return false;
        return o->has_smwb = true;
    }
    if (name_is(tok, n, "client_max_window_bits")) {
        if (o->has_cmwb)
            return false;
        o->cmwb = val != NULL ? window_bits(val) : 0;
        if (val != NULL && o->cmwb == 0)
            return false;
        return o->has_cmwb = true;
    }
    return false;
}

/* One parameter after its ";": NAME [= token | quoted-string]. Applied to
 * O when DEFLATE (another extension's parameters only need to parse). */
static bool lex_param(struct lex *x, struct offer *o, bool deflate)
{
    const char *tok, *vtok;
    size_t n, vn;
    char val[16];
    bool has_val = false;

    skip_ows(x);
    if (!lex_token(x, &tok, &n))
        return false;
    skip_ows(x);
    if (x->p < x->end && *x->p == '=') {
        x->p++;
        skip_ows(x);
        if (x->p < x->end && *x->p == '"') {
            if (!lex_quoted(x, val, sizeof(val)))
                return false;
            /* RFC 7692 section 7.1: a quoted value is a token unquoted. */
            for (const char *v = val; *v; v++)
                if (!is_tchar((unsigned char)*v))
                    return false;
        } else {
            if (!lex_token(x, &vtok, &vn))
                return false;
            if (vn < sizeof(val)) {
                memcpy(val, vtok, vn);
                val[vn] = '\0';
            } else {
                strcpy(val, "!"); /* no value of ours is that long */
            }
        }
        has_val = true;
    }
    return !deflate || apply_param(o, tok, n, has_val ? val : NULL);
}

/*
 * Read one list element at X. Returns 1 for a well-formed
 * permessage-deflate offer (in O), 0 for anything else (an empty element,
 * another extension, a declined offer); X is left at the comma or end.
 */
static int lex_element(struct lex *x, struct offer *o)
{
    const char *tok;
    size_t n;
    bool deflate;

    memset(o, 0, sizeof(*o));
    skip_ows(x);
    if (x->p == x->end || *x->p == ',')
        return 0;
    if (!lex_token(x, &tok, &n))
        goto bad;
    deflate = name_is(tok, n, "permessage-deflate");
    for (;;) {
        skip_ows(x);
        if (x->p == x->end || *x->p == ',')
            return deflate;
        if (*x->p != ';')
            goto bad;
        x->p++;
        if (!lex_param(x, o, deflate))
            goto bad;
    }
bad:
    skip_element(x);
    return 0;
}

/* Turn an offer into the parameters POL agrees to; false: decline it. */
static bool choose(const struct gn_ws_deflate_policy *pol,
                   const struct offer *o, struct gn_ws_deflate_params *p)
{
    int cw = pol->client_window_bits;

    /* zlib's raw deflate has no 8-bit window (deflateInit2 refuses it). */
    if (o->has_smwb && o->smwb < 9)
        return false;
    if (cw < 9 || cw > 15)
        cw = 15;
    p->server_no_context_takeover = o->snct || !pol->takeover;
    p->client_no_context_takeover = o->cnct || !pol->takeover;
    p->server_max_window_bits = o->has_smwb ? o->smwb : 15;
    /* Without the parameter in the offer we may not answer one: the
     * client will use 15 bits. */
    p->client_max_window_bits = 15;
    if (o->has_cmwb)
        p->client_max_window_bits = o->cmwb && o->cmwb < cw ? o->cmwb : cw;
    return true;
}

/* The longest answer write_response() can make fits, NUL included. */
_Static_assert(sizeof("permessage-deflate; server_no_context_takeover"
                      "; client_no_context_takeover"
                      "; server_max_window_bits=15"
                      "; client_max_window_bits=15") <=
                   GN_WS_DEFLATE_RESPONSE_MAX,
               "GN_WS_DEFLATE_RESPONSE_MAX holds every answer");

/* Append S to RESP at *N. */
static void put(char resp[GN_WS_DEFLATE_RESPONSE_MAX], size_t *n,
                const char *s)
{
    size_t len = strlen(s);

    assert(*n + len < GN_WS_DEFLATE_RESPONSE_MAX);
    memcpy(resp + *n, s, len + 1);
    *n += len;
}

/* Append "; NAME=BITS" (BITS 8..15). */
static void put_bits(char resp[GN_WS_DEFLATE_RESPONSE_MAX], size_t *n,
                     const char *name, int bits)
{
    char num[3] = {0};

    if (bits >= 10) {
        num[0] = '1';
        num[1] = (char)('0' + bits - 10);
    } else {
        num[0] = (char)('0' + bits);
    }
    put(resp, n, "; ");
    put(resp, n, name);
    put(resp, n, "=");
    put(resp, n, num);
}

/* Written without snprintf: this runs on a WebSocket handler's coroutine
 * stack, and vfprintf's frame took it into a second page that every idle
 * WebSocket then kept (4 KB each, tests/e2e/test_memory.py). */
static void write_response(const struct offer *o,
                           const struct gn_ws_deflate_params *p,
                           char resp[GN_WS_DEFLATE_RESPONSE_MAX])
{
    size_t n = 0;

    resp[0] = '\0';
    put(resp, &n, "permessage-deflate");
    if (p->server_no_context_takeover)
        put(resp, &n, "; server_no_context_takeover");
    if (p->client_no_context_takeover)
        put(resp, &n, "; client_no_context_takeover");
    /* RFC 7692 section 7.1.2: each window parameter is answered only when
     * it was offered, server_max_window_bits then must be. */
    if (o->has_smwb)
        put_bits(resp, &n, "server_max_window_bits", p->server_max_window_bits);
    if (o->has_cmwb)
        put_bits(resp, &n, "client_max_window_bits", p->client_max_window_bits);
}

int gn__ws_deflate_negotiate(const struct gn_ws_deflate_policy *pol,
                             const char *const *values, const size_t *lens,
                             size_t n, struct gn_ws_deflate_params *params,
                             char resp[GN_WS_DEFLATE_RESPONSE_MAX])
{
    struct offer o;

    if (!pol->enabled)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct lex x = {values[i], values[i] + lens[i]};

        while (x.p < x.end) {
            if (lex_element(&x, &o) && choose(pol, &o, params)) {
                write_response(&o, params, resp);
                return 1;
            }
            if (x.p < x.end)
                x.p++; /* the comma */
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* zlib streams                                                        */
/* ------------------------------------------------------------------ */

/* zlib's allocations, each preceded by its size so the bytes a stream
 * holds can be counted into *OPAQUE (a size_t). */
#define ZHDR 16

static voidpf zalloc(voidpf opaque, uInt items, uInt size)
{
    size_t n = (size_t)items * size;
    unsigned char *p = malloc(n + ZHDR);

    if (p == NULL)
        return Z_NULL;
    memcpy(p, &n, sizeof(n));
    *(size_t *)opaque += n;
    return p + ZHDR;
}

static void zfree(voidpf opaque, voidpf ptr)
{
    unsigned char *p = (unsigned char *)ptr - ZHDR;
    size_t n;

    memcpy(&n, p, sizeof(n));
    *(size_t *)opaque -= n;
    free(p);
}

/* A new stream counting into ACCT, or NULL. */
static z_stream *stream_new(size_t *acct)
{
    z_stream *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->zalloc = zalloc;
    s->zfree = zfree;
    s->opaque = acct;
    *acct += sizeof(*s);
    return s;
}

static void stream_free(z_stream *s, bool deflater)
{
    size_t *acct;

    if (s == NULL)
        return;
    acct = s->opaque;
    if (deflater)
        deflateEnd(s);
    else
        inflateEnd(s);
    *acct -= sizeof(*s);
    free(s);
}

static z_stream *deflater_new(size_t *acct, int wbits, int memlevel)
{
    z_stream *s = stream_new(acct);

    if (s != NULL && deflateInit2(s, LEVEL, Z_DEFLATED, -wbits, memlevel,
                                  Z_DEFAULT_STRATEGY) != Z_OK) {
        *acct -= sizeof(*s);
        free(s);
        return NULL;
    }
    return s;
}

static z_stream *inflater_new(size_t *acct, int wbits)
{
    z_stream *s = stream_new(acct);

    if (s != NULL && inflateInit2(s, -wbits) != Z_OK) {
        *acct -= sizeof(*s);
        free(s);
        return NULL;
    }
    return s;
}

struct gn_ws_deflate *gn__ws_deflate_new(const struct gn_ws_deflate_params *p)
{
    struct gn_ws_deflate *d = calloc(1, sizeof(*d));

    assert(p->server_max_window_bits >= 9 && p->server_max_window_bits <= 15);
    assert(p->client_max_window_bits >= 8 && p->client_max_window_bits <= 15);
    if (d != NULL)
        d->p = *p;
    return d;
}

void gn__ws_deflate_free(struct gn_ws_deflate *d)
{
    if (d == NULL)
        return;
    stream_free(d->def, true);
    stream_free(d->inf, false);
    free(d);
}

size_t gn__ws_deflate_memory(const struct gn_ws_deflate *d)
{
    return sizeof(*d) + d->zbytes;
}

size_t gn__ws_deflate_shared_memory(void)
{
    return shared_bytes;
}

void gn__ws_deflate_shared_free(void)
{
    for (size_t i = 0; i < sizeof(shared_def) / sizeof(shared_def[0]); i++) {
        stream_free(shared_def[i], true);
        shared_def[i] = NULL;
    }
    stream_free(shared_inf, false);
    shared_inf = NULL;
}

/* Make room for at least WANT more bytes in B (or up to CAP_MAX, if that
 * is less but still more than B->len). */
static int zbuf_grow(struct gn_ws_zbuf *b, size_t want, size_t cap_max)
{
    size_t cap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
    unsigned char *p;

    if (b->cap - b->len >= want)
        return 0;
    if (want < MIN_GROW)
        want = MIN_GROW;
    if (cap < b->len + want)
        cap = want > SIZE_MAX - b->len ? SIZE_MAX : b->len + want;
    if (cap > cap_max)
        cap = cap_max;
    if (cap <= b->cap)
        return 0;
    p = realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Compression                                                         */
/* ------------------------------------------------------------------ */

/* The compressor for D's next message, reset if it is a shared one. */
static z_stream *compressor(struct gn_ws_deflate *d)
{
    int wbits = d->p.server_max_window_bits;

    if (!d->p.server_no_context_takeover) {
        if (d->def == NULL)
            d->def = deflater_new(&d->zbytes,
                                  wbits < TAKEOVER_WBITS ? wbits : TAKEOVER_WBITS,
                                  TAKEOVER_MEMLEVEL);
        return d->def;
    }
    if (shared_def[wbits] == NULL)
        shared_def[wbits] = deflater_new(&shared_bytes, wbits, SHARED_MEMLEVEL);
    else
        deflateReset(shared_def[wbits]);
    return shared_def[wbits];
}

int gn__ws_deflate_compress(struct gn_ws_deflate *d, const void *msg,
                            size_t len, struct gn_ws_zbuf *out)
{
    z_stream *s = compressor(d);
    const unsigned char *in = msg;
    size_t old = out->len, left = len;
    int flush;

    if (s == NULL)
        return -ENOMEM;
    /* RFC 7692 section 7.2.3.6: an empty message may be a single 00 (an
     * empty stored block with the tail). zlib would send nothing at all
     * on a stream that was just flushed. */
    if (len == 0) {
        if (zbuf_grow(out, 1, SIZE_MAX) < 0)
            return -ENOMEM;
        out->data[out->len++] = 0x00;
        return 0;
    }
    /* Sized so that one pass suffices; the loop copes if not. */
    if (zbuf_grow(out, deflateBound(s, len > ZCHUNK ? ZCHUNK : (uLong)len) + 16,
                  SIZE_MAX) < 0)
        return -ENOMEM;
    do {
        size_t chunk = left > ZCHUNK ? ZCHUNK : left;

        s->next_in = (Bytef *)in;
        s->avail_in = (uInt)chunk;
        in += chunk;
        left -= chunk;
        flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            size_t room;

            if (zbuf_grow(out, 1, SIZE_MAX) < 0) {
                out->len = old;
                return -ENOMEM;
            }
            room = out->cap - out->len;
            s->next_out = out->data + out->len;
            s->avail_out = (uInt)(room > ZCHUNK ? ZCHUNK : room);
            room = s->avail_out;
            deflate(s, flush); /* Z_OK, or Z_BUF_ERROR: no progress */
            out->len += room - s->avail_out;
        } while (s->avail_out == 0);
    } while (left > 0);
    /* A sync flush ends in an empty stored block: 00 00 ff ff after the
     * block header bits. RFC 7692 section 7.2.1 drops those 4 bytes. */
    assert(out->len - old > 4 &&
           memcmp(out->data + out->len - 4, tail, 4) == 0);
    out->len -= 4;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Decompression                                                       */
/* ------------------------------------------------------------------ */

/* Past a final block (BFINAL): reset S, keeping its window as the next
 * stream's dictionary, since the context carries over it. */
static int restart_keeping_window(z_stream *s)
{
    unsigned char *dict = malloc(32768);
    uInt n = 0;
    int rc = 0;

    if (dict == NULL)
        return -ENOMEM;
    if (inflateGetDictionary(s, dict, &n) != Z_OK || inflateReset(s) != Z_OK ||
        (n > 0 && inflateSetDictionary(s, dict, n) != Z_OK))
        rc = -ENOMEM;
    free(dict);
    return rc;
}

/*
 * Inflate IN[0, LEN) with S, appending to OUT up to LIMIT bytes. Once OUT
 * is full, a 1-byte scratch output tells whether the message has more to
 * give: then it is too big, and nothing more was allocated.
 */
static int inflate_into(struct gn_ws_deflate *d, z_stream *s,
                        const unsigned char *in, size_t len, size_t limit,
                        struct gn_ws_zbuf *out)
{
    unsigned char probe;
    bool pending = false;

    for (;;) {
        size_t room, avail;
        int rc;

        if (s->avail_in == 0 && len > 0) {
            size_t chunk = len > ZCHUNK ? ZCHUNK : len;

            s->next_in = (Bytef *)in;
            s->avail_in = (uInt)chunk;
            in += chunk;
            len -= chunk;
        }
        if (d->ended) {
            /* Blocks after a final one (RFC 7692 section 7.2.3.4): go on
             * with a new stream that keeps the window. */
            if (s->avail_in == 0)
                return 0;
            if (restart_keeping_window(s) < 0)
                return -ENOMEM;
            d->ended = false;
        }
        if (s->avail_in == 0 && !pending)
            return 0;
        room = limit - out->len;
        if (room > 0 && zbuf_grow(out, room < MIN_GROW ? room : MIN_GROW,
                                  limit) < 0)
            return -ENOMEM;
        avail = out->cap - out->len;
        avail = avail < room ? avail : room;
        s->next_out = avail > 0 ? out->data + out->len : &probe;
        s->avail_out = avail > 0 ? (uInt)(avail > ZCHUNK ? ZCHUNK : avail) : 1;
        avail = s->avail_out;
        rc = inflate(s, Z_SYNC_FLUSH);
        if (room == 0 && s->avail_out == 0)
            return -EMSGSIZE;
        if (room > 0)
            out->len += avail - s->avail_out;
        pending = s->avail_out == 0;
        switch (rc) {
        case Z_OK:
            break;
        case Z_STREAM_END:
            d->ended = true;
            break;
        case Z_BUF_ERROR: /* no progress: it needs more input */
            if (len == 0)
                return 0;
            break;
        case Z_MEM_ERROR:
            return -ENOMEM;
        default: /* Z_DATA_ERROR; Z_NEED_DICT cannot happen raw */
            return -EBADMSG;
        }
    }
}

/* The inflater for D's message; a message inflated in one call (FIN on
 * its first piece) without takeover borrows the thread's. */
static z_stream *inflater(struct gn_ws_deflate *d, bool fin)
{
    int wbits = d->p.client_max_window_bits < 9 ? 9 : d->p.client_max_window_bits;

    if (d->inf == NULL && !d->inflating && fin &&
        d->p.client_no_context_takeover) {
        if (shared_inf == NULL)
            shared_inf = inflater_new(&shared_bytes, 15);
        else
            inflateReset(shared_inf);
        return shared_inf;
    }
    /* zlib 1.2.9+ inflates a window of 8 bits only in a zlib stream: a
     * 9-bit window reads anything a client meant to be 8 bits. */
    if (d->inf == NULL)
        d->inf = inflater_new(&d->zbytes,
                              d->p.client_no_context_takeover ? 15 : wbits);
    return d->inf;
}

/* The message ended (FIN) or failed (RC < 0): drop what must not outlive
 * it. */
static int end_message(struct gn_ws_deflate *d, z_stream *s, int rc)
{
    bool keep = rc == 0 && s == d->inf && !d->p.client_no_context_takeover;

    if (keep && d->ended)
        rc = restart_keeping_window(s);
    if (s == d->inf && (rc < 0 || !keep)) {
        stream_free(d->inf, false);
        d->inf = NULL;
    }
    d->inflating = false;
    d->ended = false;
    return rc;
}

int gn__ws_deflate_decompress(struct gn_ws_deflate *d, const void *in,
                              size_t len, bool fin, size_t limit,
                              struct gn_ws_zbuf *out)
{
    z_stream *s = inflater(d, fin);
    int rc;

    if (s == NULL)
        return -ENOMEM;
    if (!d->inflating) {
        d->inflating = true;
        d->ended = false;
    }
    s->avail_in = 0;
    rc = out->len > limit ? -EMSGSIZE : inflate_into(d, s, in, len, limit, out);
    if (rc == 0 && fin && !d->ended)
        rc = inflate_into(d, s, tail, sizeof(tail), limit, out);
    if (rc < 0 || fin)
        return end_message(d, s, rc);
    return 0;
}
