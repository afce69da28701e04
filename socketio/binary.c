/*
 * Binary values and attachments: see binary.h. Decoding turns each
 * placeholder object into the binary value in place (cleared, then given
 * the bytes), so no parent needs finding; encoding copies the containers
 * on the way to a binary value, since the caller's tree may be shared
 * (an emit to a room encodes the same data once per socket's packet).
 */
#include "socketio/binary.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

json_t *gn__sio_binary_new(const void *p, size_t n)
{
    json_t *obj = json_object();
    json_t *bytes = json_stringn_nocheck(n ? p : "", n);

    if (obj == NULL || bytes == NULL) {
        json_decref(obj);
        json_decref(bytes);
        return NULL;
    }
    /* _new takes the value's reference, and releases it on failure. */
    if (json_object_setn_new_nocheck(obj, GN_SIO_BINARY_KEY,
                                     GN_SIO_BINARY_KEY_LEN, bytes) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

bool gn__sio_binary_get(const json_t *v, const uint8_t **p, size_t *n)
{
    const json_t *bytes;

    if (!json_is_object(v) || json_object_size(v) != 1)
        return false;
    bytes = json_object_getn(v, GN_SIO_BINARY_KEY, GN_SIO_BINARY_KEY_LEN);
    if (!json_is_string(bytes))
        return false;
    *p = (const uint8_t *)json_string_value(bytes);
    *n = json_string_length(bytes);
    return true;
}

/* ------------------------------------------------------------------ */
/* Decoding: placeholders checked, then replaced by attachments.       */
/* ------------------------------------------------------------------ */

static bool is_placeholder(const json_t *v)
{
    return json_is_object(v) &&
           json_is_true(json_object_get(v, "_placeholder"));
}

/* NUM as an attachment's number below N, or -1. A real that is a whole
 * number counts: the client wrote a JavaScript number, and a packet that
 * holds an integer past 64 bits is read with every number a real
 * (packet.c's parse_json). */
static long long placeholder_number(const json_t *num, unsigned n)
{
    double d;

    if (json_is_integer(num))
        return json_integer_value(num) >= 0 && json_integer_value(num) < n
                   ? (long long)json_integer_value(num)
                   : -1;
    if (!json_is_real(num))
        return -1;
    d = json_real_value(num);
    return d >= 0 && d < n && d == (double)(long long)d ? (long long)d : -1;
}

/* Note each placeholder under V in SLOTS[0, N), counting them in *FOUND.
 * The depth is bounded by the decoder's (packet.c's too_deep). 0, or
 * -EBADMSG with ERR. */
static int find_placeholders(json_t *v, json_t **slots, unsigned n,
                             unsigned *found, char err[GN_ERR_LEN])
{
    size_t i;
    const char *key;
    json_t *c;
    int rc = 0;

    if (is_placeholder(v)) {
        long long k = placeholder_number(json_object_get(v, "num"), n);

        if (k < 0) {
            snprintf(err, GN_ERR_LEN, "placeholder without a number below %u",
                     n);
            return -EBADMSG;
        }
        if (slots[k] != NULL) {
            snprintf(err, GN_ERR_LEN, "placeholder %lld given twice",
                     (long long)k);
            return -EBADMSG;
        }
        slots[k] = v;
        (*found)++;
        return 0;
    }
    if (json_is_array(v)) {
        json_array_foreach (v, i, c) {
            if ((rc = find_placeholders(c, slots, n, found, err)) < 0)
                return rc;
        }
    }
    if (json_is_object(v)) {
        json_object_foreach (v, key, c) {
            if ((rc = find_placeholders(c, slots, n, found, err)) < 0)
                return rc;
        }
    }
    return rc;
}

int gn__sio_placeholders(struct gn_sio_packet *pkt, char err[GN_ERR_LEN])
{
    unsigned found = 0;
    int rc;

    if (pkt->type != GN_SIO_BINARY_EVENT && pkt->type != GN_SIO_BINARY_ACK)
        return 0;
    pkt->slots =
        calloc(pkt->attachments ? pkt->attachments : 1, sizeof(json_t *));
    if (pkt->slots == NULL)
        return -ENOMEM;
    rc =
        find_placeholders(pkt->data, pkt->slots, pkt->attachments, &found, err);
    if (rc == 0 && found != pkt->attachments) {
        snprintf(err, GN_ERR_LEN, "%u attachments announced, %u placeholders",
                 pkt->attachments, found);
        rc = -EBADMSG;
    }
    if (rc < 0 || pkt->attachments == 0) {
        free(pkt->slots);
        pkt->slots = NULL;
    }
    return rc;
}

int gn__sio_attach(struct gn_sio_packet *pkt, const void *p, size_t n)
{
    json_t *slot, *bytes;

    if (pkt->slots == NULL || pkt->attached >= pkt->attachments)
        return -EBADMSG;
    slot = pkt->slots[pkt->attached];
    bytes = json_stringn_nocheck(n ? p : "", n);
    if (bytes == NULL || json_object_clear(slot) != 0 ||
        json_object_setn_new_nocheck(slot, GN_SIO_BINARY_KEY,
                                     GN_SIO_BINARY_KEY_LEN, bytes) != 0)
        return -ENOMEM;
    if (++pkt->attached < pkt->attachments)
        return 0;
    free(pkt->slots);
    pkt->slots = NULL;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Encoding: binary values out, placeholders in.                       */
/* ------------------------------------------------------------------ */

struct extraction {
    struct gn_sio_attachment *att;
    unsigned max, n;
    int rc; /* the first failure */
};

/* Whether V holds a binary value: 1, 0, or -E2BIG past the depth. */
static int has_binary(const json_t *v, unsigned depth)
{
    const uint8_t *p;
    const char *key;
    size_t n, i;
    json_t *c;
    int rc = 0;

    if (depth > GN_SIO_ENCODE_DEPTH)
        return -E2BIG;
    if (gn__sio_binary_get(v, &p, &n))
        return 1;
    if (json_is_array(v)) {
        json_array_foreach (v, i, c) {
            if ((rc = has_binary(c, depth + 1)) != 0)
                return rc;
        }
    }
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, key, c) {
            if ((rc = has_binary(c, depth + 1)) != 0)
                return rc;
        }
    }
    return rc;
}

/* Record RC as X's failure; NULL. */
static json_t *stop(struct extraction *x, int rc)
{
    if (x->rc == 0)
        x->rc = rc;
    return NULL;
}

static json_t *placeholder(struct extraction *x, const uint8_t *p, size_t n)
{
    json_t *ph;

    if (x->n == x->max)
        return stop(x, -E2BIG);
    ph = json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)x->n);
    if (ph == NULL)
        return stop(x, -ENOMEM);
    x->att[x->n++] = (struct gn_sio_attachment){p, n};
    return ph;
}

static json_t *extract(json_t *v, struct extraction *x, unsigned depth);

/* A copy of the array or object V, its members extracted. */
static json_t *extract_members(json_t *v, struct extraction *x, unsigned depth)
{
    json_t *copy = json_is_array(v) ? json_array() : json_object();
    const char *key;
    json_t *c;
    size_t i;
    int rc = 0;

    if (copy == NULL)
        return stop(x, -ENOMEM);
    /* The _new calls take the member's reference, and fail on NULL (an
     * extraction that stopped). */
    if (json_is_array(v)) {
        json_array_foreach (v, i, c) {
            if ((rc = json_array_append_new(copy, extract(c, x, depth + 1))))
                break;
        }
    } else {
        json_object_foreach (v, key, c) {
            if ((rc = json_object_set_new_nocheck(copy, key,
                                                  extract(c, x, depth + 1))))
                break;
        }
    }
    if (rc != 0 || x->rc != 0) {
        json_decref(copy);
        return stop(x, -ENOMEM); /* keeps an earlier failure's code */
    }
    return copy;
}

/* A copy of V with its binary values replaced by placeholders (scalars
 * shared, not copied), or NULL with X->rc set. An object of the
 * placeholder's own shape among binary values is refused: the client
 * would take it for one. */
static json_t *extract(json_t *v, struct extraction *x, unsigned depth)
{
    const uint8_t *p;
    size_t n;

    if (depth > GN_SIO_ENCODE_DEPTH)
        return stop(x, -E2BIG);
    if (gn__sio_binary_get(v, &p, &n))
        return placeholder(x, p, n);
    if (is_placeholder(v))
        return stop(x, -EINVAL);
    if (json_is_array(v) || json_is_object(v))
        return extract_members(v, x, depth);
    return json_incref(v);
}

int gn__sio_encode(struct gn_buf *out, const struct gn_sio_packet *pkt,
                   struct gn_sio_attachment *att, unsigned max, unsigned *natt)
{
    struct extraction x = {att, max, 0, 0};
    struct gn_sio_packet wire = *pkt;
    int rc = pkt->data ? has_binary(pkt->data, 0) : 0;

    *natt = 0;
    if (rc <= 0)
        return rc < 0 ? rc : gn__sio_encode_text(out, pkt);
    if (pkt->type == GN_SIO_EVENT || pkt->type == GN_SIO_BINARY_EVENT)
        wire.type = GN_SIO_BINARY_EVENT;
    else if (pkt->type == GN_SIO_ACK || pkt->type == GN_SIO_BINARY_ACK)
        wire.type = GN_SIO_BINARY_ACK;
    else
        return -EINVAL;
    wire.data = extract(pkt->data, &x, 0);
    if (wire.data == NULL)
        return x.rc;
    wire.attachments = x.n;
    wire.slots = NULL;
    rc = gn__sio_encode_text(out, &wire);
    json_decref(wire.data);
    if (rc == 0)
        *natt = x.n;
    return rc;
}
