/*
 * Events and acknowledgements, both ways. A client's EVENT runs its
 * handler (the event's, else the namespace's catch-all) in a green thread
 * of its own, as handlers may wait; what the handler returns answers the
 * client's ack, if it asked for one. The server's events go out encoded
 * once (binary values as attachments: binary.h), and an emit that asks
 * for an ack parks its caller on an event until the ACK with its id
 * comes, the timeout passes or the socket leaves.
 */
#include "socketio/sio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "green/sync.h"
#include "socketio/binary.h"

int gn__sio_encode_pkts(const struct gn_sio_packet *pkt, struct gn_buf *head,
                        struct gn_eio_packet pkts[GN_SIO_MAX_ATTACH + 1],
                        size_t *n)
{
    struct gn_sio_attachment att[GN_SIO_MAX_ATTACH];
    unsigned natt = 0;
    int rc = gn__sio_encode(head, pkt, att, GN_SIO_MAX_ATTACH, &natt);

    if (rc == 0 && head->err)
        rc = head->err;
    if (rc != 0)
        return rc;
    pkts[0] = (struct gn_eio_packet){GN_EIO_MESSAGE, false,
                                     (const uint8_t *)head->data, head->len};
    for (unsigned i = 0; i < natt; i++)
        pkts[1 + i] =
            (struct gn_eio_packet){GN_EIO_MESSAGE, true, att[i].p, att[i].n};
    *n = 1 + natt;
    return 0;
}

int gn__sio_send_pkts(struct gn_sio_conn *c, const struct gn_eio_packet *pkts,
                      size_t n)
{
    if (c->session == NULL)
        return -EPIPE;
    return c->sio->engine->send(c->session, pkts, n);
}

/* Encode PKT (binary values and all) and send it to C. */
static int send_packet(struct gn_sio_conn *c, const struct gn_sio_packet *pkt)
{
    struct gn_eio_packet pkts[GN_SIO_MAX_ATTACH + 1];
    struct gn_buf head;
    size_t n;
    int rc;

    gn__buf_init(&head, NULL, 0);
    rc = gn__sio_encode_pkts(pkt, &head, pkts, &n);
    if (rc == 0)
        rc = gn__sio_send_pkts(c, pkts, n);
    gn__buf_free(&head);
    return rc;
}

int gn__sio_send(struct gn_sio_conn *c, const struct gn_sio_packet *pkt)
{
    return send_packet(c, pkt);
}

/* The names the client library keeps for itself (socket.io-client's
 * RESERVED_EVENTS): an emit of one is refused, as the reference server
 * does. */
static bool reserved(const char *event)
{
    static const char *const names[] = {"connect",     "connect_error",
                                        "disconnect",  "disconnecting",
                                        "newListener", "removeListener"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(event, names[i]) == 0)
            return true;
    return false;
}

json_t *gn__sio_event_data(const char *event, json_t *args, int *rc)
{
    json_t *data;
    size_t i;
    json_t *v;

    if (event == NULL || reserved(event) ||
        (args != NULL && !json_is_array(args))) {
        *rc = -EINVAL;
        return NULL;
    }
    data = json_array();
    if (data == NULL || json_array_append_new(data, json_string(event)) != 0) {
        json_decref(data);
        *rc = json_is_array(data) ? -EINVAL : -ENOMEM; /* not UTF-8 */
        return NULL;
    }
    json_array_foreach (args, i, v) {
        if (json_array_append(data, v) != 0) {
            json_decref(data);
            *rc = -ENOMEM;
            return NULL;
        }
    }
    *rc = 0;
    return data;
}

/* An event of S with DATA and ack id ID, encoded and sent. */
static int emit(struct gn_sio_socket *s, const char *event, json_t *args,
                int64_t id)
{
    struct gn_sio_packet pkt = {.type = GN_SIO_EVENT, .id = id};
    int rc;

    if (s == NULL || s->state != SIO_CONNECTED)
        return -ENOTCONN;
    pkt.data = gn__sio_event_data(event, args, &rc);
    if (pkt.data == NULL)
        return rc;
    pkt.nsp = s->nsp->name;
    pkt.nsp_len = s->nsp->name_len;
    rc = send_packet(s->conn, &pkt);
    json_decref(pkt.data);
    return rc;
}

GN_API int gn_sio_emit(gn_sio_socket_t *s, const char *event, json_t *args)
{
    return emit(s, event, args, GN_SIO_NO_ID);
}

GN_API int gn_sio_emit_ack(gn_sio_socket_t *s, const char *event, json_t *args,
                           int timeout_ms, json_t **reply)
{
    struct sio_pending p = {0};
    int rc;

    if (reply)
        *reply = NULL;
    if (s == NULL || s->state != SIO_CONNECTED)
        return -ENOTCONN;
    p.id = s->next_ack++;
    p.done = gn_event_new();
    if (p.done == NULL)
        return -ENOMEM;
    gn__sio_socket_ref(s);
    rc = emit(s, event, args, p.id);
    if (rc == 0) {
        p.next = s->pending;
        s->pending = &p;
        rc = gn_event_wait(p.done, timeout_ms < 0 ? -1.0 : timeout_ms / 1e3);
        if (gn_event_is_set(p.done)) {
            rc = p.rc; /* answered (or gone), even if the wait timed out */
        } else {
            struct sio_pending **pp = &s->pending;

            while (*pp != NULL && *pp != &p)
                pp = &(*pp)->next;
            if (*pp == &p)
                *pp = p.next;
        }
    }
    if (rc == 0 && reply)
        *reply = p.reply;
    else
        json_decref(p.reply);
    gn_event_free(p.done);
    gn__sio_socket_unref(s);
    return rc;
}

void gn__sio_on_ack(struct gn_sio_socket *s, struct gn_sio_packet *pkt)
{
    struct sio_pending **pp = &s->pending;

    while (*pp != NULL && (*pp)->id != pkt->id)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return; /* late (its wait timed out) or unknown: dropped */
    struct sio_pending *p = *pp;

    *pp = p->next;
    p->reply = json_incref(pkt->data);
    p->rc = 0;
    gn_event_set(p->done);
}

struct event_job {
    struct gn_sio_socket *s;
    gn_sio_event_fn fn;
    void *ud;
    json_t *args;
    int64_t id;
    char event[];
};

/* The ack of JOB with what its handler returned (RET, stolen). */
static void answer(struct event_job *job, json_t *ret)
{
    struct gn_sio_socket *s = job->s;
    struct gn_sio_packet pkt = {.type = GN_SIO_ACK, .id = job->id};

    if (ret == NULL)
        ret = json_array();
    else if (!json_is_array(ret)) {
        json_t *one = json_array();

        if (one != NULL && json_array_append_new(one, ret) != 0) {
            json_decref(one);
            one = NULL;
        }
        ret = one;
    }
    if (ret == NULL)
        return; /* out of memory: the client's ack times out */
    if (s->state == SIO_CONNECTED) {
        pkt.nsp = s->nsp->name;
        pkt.nsp_len = s->nsp->name_len;
        pkt.data = ret;
        send_packet(s->conn, &pkt);
    }
    json_decref(ret);
}

static int event_main(void *arg)
{
    struct event_job *job = arg;
    json_t *ret = NULL;

    if (job->s->state == SIO_CONNECTED)
        ret = job->fn(job->s, job->event, job->args, job->ud);
    if (job->id != GN_SIO_NO_ID)
        answer(job, ret);
    else
        json_decref(ret);
    json_decref(job->args);
    gn__sio_socket_unref(job->s);
    free(job);
    return 0;
}

static struct sio_handler *handler_of(struct sio_nsp *ns, const char *event)
{
    struct sio_handler *any = NULL;

    for (struct sio_handler *h = ns->handlers; h != NULL; h = h->next) {
        if (h->event == NULL)
            any = h;
        else if (strcmp(h->event, event) == 0)
            return h;
    }
    return any;
}

void gn__sio_on_event(struct gn_sio_socket *s, struct gn_sio_packet *pkt)
{
    json_t *name = json_array_get(pkt->data, 0);
    char num[32];
    const char *event;
    struct sio_handler *h;
    struct event_job *job;

    if (json_is_string(name)) {
        event = json_string_value(name);
    } else { /* a number, which the packet decoder allows */
        snprintf(num, sizeof(num), "%.17g", json_number_value(name));
        event = num;
    }
    h = handler_of(s->nsp, event);
    if (h == NULL)
        return; /* nobody listens: no ack either, as the reference */
    job = malloc(sizeof(*job) + strlen(event) + 1);
    if (job == NULL)
        return;
    job->args = json_array();
    if (job->args == NULL) {
        free(job);
        return;
    }
    for (size_t i = 1; i < json_array_size(pkt->data); i++)
        json_array_append(job->args, json_array_get(pkt->data, i));
    job->s = s;
    job->fn = h->fn;
    job->ud = h->ud;
    job->id = pkt->id;
    strcpy(job->event, event);
    gn__sio_socket_ref(s);
    if (gn__spawn_detached(event_main, job) == NULL) {
        json_decref(job->args);
        gn__sio_socket_unref(s);
        free(job);
    }
}
