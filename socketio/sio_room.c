/*
 * Rooms and broadcasts. A room is a name a socket is in (each socket is
 * in the room of its own id): the set is kept on the socket, and an emit
 * to a room walks the namespace's sockets, so that joining and leaving
 * cost nothing and a socket that leaves takes its rooms along. An emit
 * is encoded once and queued to each member (never waiting: a member
 * whose queue is full is closed by the engine, the others go on).
 *
 * Across workers and hosts, an adapter (gn_sio_set_adapter) publishes
 * each room emit and broadcast as a message every other instance hands
 * to gn_sio_deliver. Exactly once: the emitting instance delivers its own
 * sockets at once (so a broken adapter never loses local members) and
 * skips the message when it comes back, recognised by the random id of
 * the instance in it. The message is a JSON array, opaque to adapters:
 *
 *     ["sio1", instance, namespace, room|null, except-id|null,
 *      packet head, attachment in base64, ...]
 *
 * carrying the packet as encoded, so a receiver does not re-encode it.
 */
#include "socketio/sio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/base64.h"
#include "socketio/binary.h"

#define ADAPTER_TAG "sio1"

GN_API int gn_sio_in_room(const gn_sio_socket_t *s, const char *room)
{
    for (size_t i = 0; i < s->nrooms; i++)
        if (strcmp(s->rooms[i], room) == 0)
            return 1;
    return 0;
}

GN_API int gn_sio_join(gn_sio_socket_t *s, const char *room)
{
    char *copy;

    if (s == NULL || room == NULL)
        return -EINVAL;
    if (s->state != SIO_CONNECTED)
        return -ENOTCONN;
    if (gn_sio_in_room(s, room))
        return 0;
    if (s->nrooms == s->caprooms) {
        size_t cap = s->caprooms ? 2 * s->caprooms : 4;
        char **r = realloc(s->rooms, cap * sizeof(*r));

        if (r == NULL)
            return -ENOMEM;
        s->rooms = r;
        s->caprooms = cap;
    }
    if ((copy = strdup(room)) == NULL)
        return -ENOMEM;
    s->rooms[s->nrooms++] = copy;
    return 0;
}

GN_API int gn_sio_leave(gn_sio_socket_t *s, const char *room)
{
    if (s == NULL || room == NULL)
        return -EINVAL;
    for (size_t i = 0; i < s->nrooms; i++) {
        if (strcmp(s->rooms[i], room) == 0) {
            free(s->rooms[i]);
            s->rooms[i] = s->rooms[--s->nrooms];
            return 0;
        }
    }
    return 0;
}

void gn__sio_rooms_clear(struct gn_sio_socket *s)
{
    for (size_t i = 0; i < s->nrooms; i++)
        free(s->rooms[i]);
    s->nrooms = 0;
}

/* Queue PKTS[0, N) to every connected socket of NS in ROOM (NULL: all)
 * but the one whose id is EXCEPT (NULL: none). */
static void deliver_local(struct sio_nsp *ns, const char *room,
                          const char *except, const struct gn_eio_packet *pkts,
                          size_t n)
{
    struct gn_sio_socket *s, *next;

    for (s = ns->sockets; s != NULL; s = next) {
        /* A full queue closes S's session, which unlinks S (only S: a
         * session has one socket per namespace). */
        next = s->nsp_next;
        if (except != NULL && strcmp(s->id, except) == 0)
            continue;
        if (room != NULL && !gn_sio_in_room(s, room))
            continue;
        gn__sio_send_pkts(s->conn, pkts, n);
    }
}

/* The adapter's message for an emit encoded as PKTS[0, N), or NULL. */
static json_t *adapter_message(gn_sio_t *sio, const struct sio_nsp *ns,
                               const char *room, const char *except,
                               const struct gn_eio_packet *pkts, size_t n)
{
    json_t *m = json_pack("[sssOOs#]", ADAPTER_TAG, sio->uid, ns->name,
                          room ? json_string(room) : json_null(),
                          except ? json_string(except) : json_null(),
                          (const char *)pkts[0].data, pkts[0].len);

    for (size_t i = 1; m != NULL && i < n; i++) {
        char *b = malloc(gn__base64_len(pkts[i].len) + 1);
        size_t len;

        if (b == NULL) {
            json_decref(m);
            return NULL;
        }
        len = gn__base64_encode(pkts[i].data, pkts[i].len, b);
        if (json_array_append_new(m, json_stringn(b, len)) != 0) {
            json_decref(m);
            m = NULL;
        }
        free(b);
    }
    return m;
}

GN_API int gn_sio_emit_to(gn_sio_t *sio, const char *nsp, const char *room,
                          const gn_sio_socket_t *except, const char *event,
                          json_t *args)
{
    struct gn_sio_packet pkt = {.type = GN_SIO_EVENT, .id = GN_SIO_NO_ID};
    struct gn_eio_packet pkts[GN_SIO_MAX_ATTACH + 1];
    const char *except_id = except ? except->id : NULL;
    struct sio_nsp *ns;
    struct gn_buf head;
    size_t n;
    int rc;

    if (sio == NULL || nsp == NULL ||
        (ns = gn__sio_nsp_find(sio, nsp, strlen(nsp))) == NULL)
        return -EINVAL;
    pkt.data = gn__sio_event_data(event, args, &rc);
    if (pkt.data == NULL)
        return rc;
    pkt.nsp = ns->name;
    pkt.nsp_len = ns->name_len;
    gn__buf_init(&head, NULL, 0);
    rc = gn__sio_encode_pkts(&pkt, &head, pkts, &n);
    if (rc == 0) {
        deliver_local(ns, room, except_id, pkts, n);
        if (sio->publish != NULL) {
            json_t *m = adapter_message(sio, ns, room, except_id, pkts, n);
            char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;

            rc = text ? sio->publish(text, strlen(text), sio->publish_ud)
                      : -ENOMEM;
            free(text);
            json_decref(m);
        }
    }
    gn__buf_free(&head);
    json_decref(pkt.data);
    return rc;
}

GN_API void gn_sio_set_adapter(gn_sio_t *sio, gn_sio_publish_fn publish,
                               void *ud)
{
    sio->publish = publish;
    sio->publish_ud = ud;
}

/* Deliver the parsed adapter message M. */
static int deliver(gn_sio_t *sio, json_t *m)
{
    struct gn_eio_packet pkts[GN_SIO_MAX_ATTACH + 1];
    const char *tag, *uid, *nsp, *room = NULL, *except = NULL;
    json_t *jroom, *jexcept, *jhead;
    size_t n = json_array_size(m), i;
    struct sio_nsp *ns;
    int rc = 0;

    if (n < 6 || n > 6 + GN_SIO_MAX_ATTACH ||
        json_unpack(m, "[sssooo*]", &tag, &uid, &nsp, &jroom, &jexcept,
                    &jhead) != 0)
        return -EBADMSG;
    if (strcmp(tag, ADAPTER_TAG) != 0 || !json_is_string(jhead) ||
        !(json_is_null(jroom) || json_is_string(jroom)) ||
        !(json_is_null(jexcept) || json_is_string(jexcept)))
        return -EBADMSG;
    if (strcmp(uid, sio->uid) == 0)
        return 0; /* ours, delivered when it was emitted */
    ns = gn__sio_nsp_find(sio, nsp, strlen(nsp));
    if (ns == NULL)
        return 0;
    room = json_string_value(jroom);
    except = json_string_value(jexcept);
    pkts[0] = (struct gn_eio_packet){GN_EIO_MESSAGE, false,
                                     (const uint8_t *)json_string_value(jhead),
                                     json_string_length(jhead)};
    for (i = 6; i < n; i++) {
        json_t *a = json_array_get(m, i);
        uint8_t *b;
        long len;

        if (!json_is_string(a)) {
            rc = -EBADMSG;
            break;
        }
        b = malloc(json_string_length(a) / 4 * 3 + 2);
        if (b == NULL) {
            rc = -ENOMEM;
            break;
        }
        len = gn__base64_decode(json_string_value(a), json_string_length(a), b);
        if (len < 0) {
            free(b);
            rc = -EBADMSG;
            break;
        }
        pkts[i - 5] =
            (struct gn_eio_packet){GN_EIO_MESSAGE, true, b, (size_t)len};
    }
    if (rc == 0)
        deliver_local(ns, room, except, pkts, n - 5);
    for (size_t k = 1; k < i - 5; k++)
        free((void *)pkts[k].data);
    return rc;
}

GN_API int gn_sio_deliver(gn_sio_t *sio, const void *msg, size_t len)
{
    json_t *m = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    int rc;

    if (m == NULL || !json_is_array(m)) {
        json_decref(m);
        return -EBADMSG;
    }
    rc = deliver(sio, m);
    json_decref(m);
    return rc;
}

GN_API json_t *gn_sio_binary_new(const void *p, size_t n)
{
    return gn__sio_binary_new(p, n);
}

GN_API int gn_sio_binary_get(const json_t *v, const void **p, size_t *n)
{
    const uint8_t *bp;
    size_t bn;

    if (!gn__sio_binary_get(v, &bp, &bn))
        return 0;
    if (p)
        *p = bp;
    if (n)
        *n = bn;
    return 1;
}
