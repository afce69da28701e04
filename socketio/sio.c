/*
 * The Socket.IO server: its namespaces and their handlers (the
 * gn_sio_on* registrations), the engine's entry points (a session opens,
 * a message arrives, it closes) and the random ids of sockets and of the
 * server itself.
 */
#include "socketio/sio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void gn__sio_make_id(char id[GN_SIO_ID_LEN + 1])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[GN_SIO_ID_LEN];
    ssize_t got = getrandom(r, sizeof(r), GRND_NONBLOCK);

    if (got != (ssize_t)sizeof(r)) {
        /* Entropy not ready yet (early boot): ids need to be unique and
         * hard to guess, not secret keys; mix the clock and a counter. */
        static unsigned long ctr;
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        srandom((unsigned)(ts.tv_nsec ^ ts.tv_sec ^ getpid() ^ ++ctr));
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)random();
    }
    for (size_t i = 0; i < GN_SIO_ID_LEN; i++)
        id[i] = b64url[r[i] & 63];
    id[GN_SIO_ID_LEN] = '\0';
}

struct sio_nsp *gn__sio_nsp_find(gn_sio_t *sio, const char *p, size_t n)
{
    for (struct sio_nsp *ns = sio->nsps; ns != NULL; ns = ns->next)
        if (ns->name_len == n && memcmp(ns->name, p, n) == 0)
            return ns;
    return NULL;
}

/* NSP, declared now if it was not. */
static struct sio_nsp *nsp_get(gn_sio_t *sio, const char *name)
{
    struct sio_nsp *ns;

    if (name == NULL || name[0] != '/')
        return NULL;
    ns = gn__sio_nsp_find(sio, name, strlen(name));
    if (ns != NULL)
        return ns;
    ns = calloc(1, sizeof(*ns));
    if (ns == NULL || (ns->name = strdup(name)) == NULL) {
        free(ns);
        return NULL;
    }
    ns->name_len = strlen(name);
    ns->next = sio->nsps;
    sio->nsps = ns;
    return ns;
}

gn_sio_t *gn__sio_server_new(const struct gn_sio_engine *engine)
{
    gn_sio_t *sio = calloc(1, sizeof(*sio));

    if (sio == NULL)
        return NULL;
    sio->engine = engine;
    sio->limits = GN_SIO_LIMITS_DEFAULT;
    gn__sio_make_id(sio->uid);
    if (nsp_get(sio, "/") == NULL) {
        free(sio);
        errno = ENOMEM;
        return NULL;
    }
    return sio;
}

void gn__sio_server_free(gn_sio_t *sio)
{
    struct sio_nsp *ns, *nn;

    if (sio == NULL)
        return;
    sio->freeing = true;
    /* The engine's close runs gn__sio_closed, which unlinks the conn. */
    while (sio->conns != NULL) {
        struct gn_sio_conn *c = sio->conns;

        gn__sio_conn_ref(c);
        if (c->session != NULL)
            sio->engine->close(c->session, "server shutting down");
        if (!c->closed) /* an engine that did not call back */
            gn__sio_closed(c, "server shutting down");
        gn__sio_conn_unref(c);
    }
    for (ns = sio->nsps; ns != NULL; ns = nn) {
        nn = ns->next;
        /* Sockets still in a handler point here: they are gone, and a
         * gone socket no longer reads its namespace's handlers. */
        for (struct gn_sio_socket *s = ns->sockets; s != NULL; s = s->nsp_next)
            s->nsp = NULL;
        for (struct sio_handler *h = ns->handlers, *hn; h != NULL; h = hn) {
            hn = h->next;
            free(h->event);
            free(h);
        }
        free(ns->name);
        free(ns);
    }
    free(sio);
}

GN_API int gn_sio_on_connect(gn_sio_t *sio, const char *nsp,
                             gn_sio_connect_fn fn, void *ud)
{
    struct sio_nsp *ns;

    if (sio == NULL || nsp == NULL || nsp[0] != '/')
        return -EINVAL;
    if ((ns = nsp_get(sio, nsp)) == NULL)
        return -ENOMEM;
    ns->on_connect = fn;
    ns->connect_ud = ud;
    return 0;
}

GN_API int gn_sio_on_disconnect(gn_sio_t *sio, const char *nsp,
                                gn_sio_disconnect_fn fn, void *ud)
{
    struct sio_nsp *ns;

    if (sio == NULL || nsp == NULL || nsp[0] != '/')
        return -EINVAL;
    if ((ns = nsp_get(sio, nsp)) == NULL)
        return -ENOMEM;
    ns->on_disconnect = fn;
    ns->disconnect_ud = ud;
    return 0;
}

GN_API int gn_sio_on(gn_sio_t *sio, const char *nsp, const char *event,
                     gn_sio_event_fn fn, void *ud)
{
    struct sio_nsp *ns;
    struct sio_handler *h;

    if (sio == NULL || nsp == NULL || nsp[0] != '/' || fn == NULL)
        return -EINVAL;
    if ((ns = nsp_get(sio, nsp)) == NULL)
        return -ENOMEM;
    for (h = ns->handlers; h != NULL; h = h->next) {
        if ((h->event == NULL && event == NULL) ||
            (h->event != NULL && event != NULL &&
             strcmp(h->event, event) == 0)) {
            h->fn = fn;
            h->ud = ud;
            return 0;
        }
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL || (event != NULL && (h->event = strdup(event)) == NULL)) {
        free(h);
        return -ENOMEM;
    }
    h->fn = fn;
    h->ud = ud;
    h->next = ns->handlers;
    ns->handlers = h;
    return 0;
}

struct gn_sio_conn *gn__sio_open(gn_sio_t *sio, void *session)
{
    struct gn_sio_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->sio = sio;
    c->session = session;
    c->refs = 1; /* the session's */
    c->next = sio->conns;
    if (sio->conns)
        sio->conns->prev = c;
    sio->conns = c;
    return c;
}

void gn__sio_closed(struct gn_sio_conn *c, const char *reason)
{
    gn_sio_t *sio = c->sio;

    if (c->closed)
        return;
    c->closed = true;
    c->session = NULL;
    if (c->has_partial) {
        gn__sio_packet_clear(&c->partial);
        c->has_partial = false;
    }
    if (c->prev)
        c->prev->next = c->next;
    else if (sio->conns == c)
        sio->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    while (c->sockets != NULL)
        gn__sio_socket_gone(c->sockets, reason); /* unlinks it */
    gn__sio_conn_unref(c);
}
