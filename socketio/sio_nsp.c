/*
 * A socket's life in a namespace. A client's CONNECT makes one, in
 * "connecting" state, and runs the namespace's connect handler with the
 * auth payload in a green thread (it may query a database); the handler
 * accepts (CONNECT {"sid": ...} is sent, the socket joins the room of its
 * id) or refuses (CONNECT_ERROR {"message": ...}). A namespace nobody
 * declared is refused with "Invalid namespace". The socket leaves on a
 * DISCONNECT either way or when its session closes, and the disconnect
 * handler then runs, with the reason, in a green thread too.
 */
#include "socketio/sio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "green/sync.h"

void gn__sio_socket_ref(struct gn_sio_socket *s)
{
    s->refs++;
}

void gn__sio_socket_unref(struct gn_sio_socket *s)
{
    if (--s->refs > 0)
        return;
    if (s->data_free)
        s->data_free(s->data);
    gn__sio_rooms_clear(s);
    free(s->rooms);
    gn__sio_conn_unref(s->conn);
    free(s->nsp_name);
    free(s);
}

struct gn_sio_socket *gn__sio_conn_socket(struct gn_sio_conn *c,
                                          const struct sio_nsp *nsp)
{
    for (struct gn_sio_socket *s = c->sockets; s != NULL; s = s->conn_next)
        if (s->nsp == nsp)
            return s;
    return NULL;
}

/* Send a CONNECT or CONNECT_ERROR with DATA (stolen) on NSP[0, N). */
static void send_answer(struct gn_sio_conn *c, enum gn_sio_type type,
                        const char *nsp, size_t n, json_t *data)
{
    struct gn_sio_packet pkt = {.type = type,
                                .nsp = nsp,
                                .nsp_len = n,
                                .id = GN_SIO_NO_ID,
                                .data = data};

    if (data != NULL)
        gn__sio_send(c, &pkt);
    json_decref(data);
}

static void unlink_conn(struct gn_sio_socket *s)
{
    struct gn_sio_socket **pp = &s->conn->sockets;

    while (*pp != NULL && *pp != s)
        pp = &(*pp)->conn_next;
    if (*pp == s)
        *pp = s->conn_next;
    s->conn_next = NULL;
}

static void accept_socket(struct gn_sio_socket *s)
{
    struct sio_nsp *ns = s->nsp;

    s->state = SIO_CONNECTED;
    s->nsp_prev = NULL;
    s->nsp_next = ns->sockets;
    if (ns->sockets)
        ns->sockets->nsp_prev = s;
    ns->sockets = s;
    if (gn_sio_join(s, s->id) != 0) {
        gn__sio_socket_gone(s, "server error");
        return;
    }
    send_answer(s->conn, GN_SIO_CONNECT, ns->name, ns->name_len,
                json_pack("{ss}", "sid", s->id));
}

static void refuse_socket(struct gn_sio_socket *s, const char *msg)
{
    send_answer(s->conn, GN_SIO_CONNECT_ERROR, s->nsp->name, s->nsp->name_len,
                json_pack("{ss}", "message", msg));
    s->state = SIO_GONE;
    unlink_conn(s);
    gn__sio_socket_unref(s); /* its life's reference */
}

struct connect_job {
    struct gn_sio_socket *s;
    json_t *auth;
};

static int connect_main(void *arg)
{
    struct connect_job *job = arg;
    struct gn_sio_socket *s = job->s;
    struct sio_nsp *ns = s->nsp;
    const char *refusal = NULL;

    if (s->state == SIO_CONNECTING)
        refusal = ns->on_connect(s, job->auth, ns->connect_ud);
    if (s->state == SIO_CONNECTING) { /* not gone meanwhile */
        if (refusal != NULL)
            refuse_socket(s, refusal);
        else
            accept_socket(s);
    }
    json_decref(job->auth);
    gn__sio_socket_unref(s);
    free(job);
    return 0;
}

void gn__sio_on_connect(struct gn_sio_conn *c, struct gn_sio_packet *pkt)
{
    struct sio_nsp *ns = gn__sio_nsp_find(c->sio, pkt->nsp, pkt->nsp_len);
    struct gn_sio_socket *s;
    struct connect_job *job;

    if (ns == NULL) {
        send_answer(c, GN_SIO_CONNECT_ERROR, pkt->nsp, pkt->nsp_len,
                    json_pack("{ss}", "message", "Invalid namespace"));
        return;
    }
    if (gn__sio_conn_socket(c, ns) != NULL)
        return; /* connected there already: the reference ignores it */
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->nsp_name = strdup(ns->name)) == NULL) {
        free(s);
        gn__sio_conn_fail(c, "out of memory");
        return;
    }
    s->conn = c;
    gn__sio_conn_ref(c);
    s->nsp = ns;
    s->state = SIO_CONNECTING;
    s->refs = 1; /* its life's: dropped when it is gone */
    gn__sio_make_id(s->id);
    s->conn_next = c->sockets;
    c->sockets = s;
    if (ns->on_connect == NULL) {
        accept_socket(s);
        return;
    }
    job = malloc(sizeof(*job));
    if (job == NULL) {
        refuse_socket(s, "Server error");
        return;
    }
    job->s = s;
    job->auth = json_incref(pkt->data);
    gn__sio_socket_ref(s);
    if (gn__spawn_detached(connect_main, job) == NULL) {
        json_decref(job->auth);
        free(job);
        gn__sio_socket_unref(s);
        refuse_socket(s, "Server error");
    }
}

struct disconnect_job {
    struct gn_sio_socket *s;
    gn_sio_disconnect_fn fn;
    void *ud;
    char reason[];
};

static int disconnect_main(void *arg)
{
    struct disconnect_job *job = arg;

    job->fn(job->s, job->reason, job->ud);
    gn__sio_socket_unref(job->s); /* its life's reference */
    free(job);
    return 0;
}

void gn__sio_socket_gone(struct gn_sio_socket *s, const char *reason)
{
    bool was_connected = s->state == SIO_CONNECTED;
    struct sio_nsp *ns = s->nsp;
    struct disconnect_job *job;

    if (s->state == SIO_GONE)
        return;
    s->state = SIO_GONE;
    unlink_conn(s);
    if (was_connected && ns != NULL) {
        if (s->nsp_prev)
            s->nsp_prev->nsp_next = s->nsp_next;
        else
            ns->sockets = s->nsp_next;
        if (s->nsp_next)
            s->nsp_next->nsp_prev = s->nsp_prev;
        s->nsp_next = s->nsp_prev = NULL;
    }
    for (struct sio_pending *p = s->pending; p != NULL; p = p->next) {
        p->rc = -ENOTCONN;
        gn_event_set(p->done);
    }
    s->pending = NULL;
    gn__sio_rooms_clear(s);
    if (!was_connected || ns == NULL || ns->on_disconnect == NULL ||
        s->conn->sio->freeing) {
        gn__sio_socket_unref(s);
        return;
    }
    job = malloc(sizeof(*job) + strlen(reason) + 1);
    if (job == NULL) {
        gn__sio_socket_unref(s);
        return;
    }
    job->s = s;
    job->fn = ns->on_disconnect;
    job->ud = ns->disconnect_ud;
    strcpy(job->reason, reason);
    if (gn__spawn_detached(disconnect_main, job) == NULL) {
        free(job);
        gn__sio_socket_unref(s);
    }
}

GN_API int gn_sio_disconnect(gn_sio_socket_t *s)
{
    struct gn_sio_packet pkt;

    if (s == NULL || s->state != SIO_CONNECTED)
        return -ENOTCONN;
    pkt = (struct gn_sio_packet){.type = GN_SIO_DISCONNECT,
                                 .nsp = s->nsp->name,
                                 .nsp_len = s->nsp->name_len,
                                 .id = GN_SIO_NO_ID};
    gn__sio_send(s->conn, &pkt);
    gn__sio_socket_gone(s, "server namespace disconnect");
    return 0;
}

GN_API const char *gn_sio_id(const gn_sio_socket_t *s)
{
    return s->id;
}

GN_API const char *gn_sio_nsp(const gn_sio_socket_t *s)
{
    return s->nsp_name;
}

GN_API int gn_sio_connected(const gn_sio_socket_t *s)
{
    return s->state == SIO_CONNECTED;
}

GN_API void gn_sio_set_data(gn_sio_socket_t *s, void *data,
                            void (*free_fn)(void *data))
{
    if (s->data_free && s->data != data)
        s->data_free(s->data);
    s->data = data;
    s->data_free = free_fn;
}

GN_API void *gn_sio_data(const gn_sio_socket_t *s)
{
    return s->data;
}
