/*
 * green_db: the post_fork hook that makes the cooperative database
 * clients of contrib/green wait with gn_wait_fd in each worker, so a query
 * or a Redis command suspends only its request -- the seed's
 * psycogreen.gevent.patch_psycopg() in Gunicorn's post_fork.
 *
 *     [hooks]
 *     post_fork = build/contrib/hooks/green_db.so
 *
 * This module links libgn_pq, libgn_redis, libgn_zmq and libgn_maria
 * (those that were built), so the arbiter loads them with it; an app
 * linking them later gets the same objects (the dynamic linker matches
 * their soname), already green. Without the hook the clients poll(2) and
 * block their worker while they wait.
 *
 * A deployment with its own post_fork hook calls gn_pq_set_wait,
 * gn_redis_set_wait, gn_zmq_set_wait and gn_maria_set_wait from it
 * instead.
 */
#include <greenicorn.h>

#ifdef GN_HAVE_PQ
#include "pq.h"
#endif
#ifdef GN_HAVE_REDIS
#include "redis.h"
#endif
#ifdef GN_HAVE_ZMQ
#include "zeromq.h"
#endif
#ifdef GN_HAVE_MARIA
#include "maria.h"
#endif

static int make_green(const gn_hook_args_t *args)
{
    (void)args;
#ifdef GN_HAVE_PQ
    gn_pq_set_wait(gn_wait_fd);
#endif
#ifdef GN_HAVE_REDIS
    gn_redis_set_wait(gn_wait_fd);
#endif
#ifdef GN_HAVE_ZMQ
    gn_zmq_set_wait(gn_wait_fd);
#endif
#ifdef GN_HAVE_MARIA
    gn_maria_set_wait(gn_wait_fd);
#endif
    gn_log(GN_LOG_DEBUG, "green_db: database clients wait with gn_wait_fd");
    return 0;
}

GN_HOOK(post_fork, make_green);
