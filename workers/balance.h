/*
 * Sharing new connections among the workers that accept from one listening
 * socket (the balance board). Every worker's loop watches the shared
 * listener, and the kernel wakes them all for each connection; whichever
 * runs first accepts it, so the worker already awake, or the one on the
 * core the client is not on, takes a burst nearly whole: measured, of
 * 100 keep-alive connections opened one after the other against two
 * workers one took 76 to 100 in 36 runs of 40, on either engine. For
 * connections that live (WebSockets, streams, a proxy's pool) that is one
 * core doing the work of all for as long as they stay.
 *
 * The board is shared memory the arbiter maps once, a slot per worker:
 * whether it accepts now, how many connections it holds and how many it
 * has accepted. A worker about to accept first asks gn__balance_yield:
 * when another accepting worker holds fewer by more than a small slack it
 * stops watching the listener for a moment (workers/accept.c), the others
 * (woken for the same connection) take it; if none did meanwhile (busy,
 * hung) it accepts regardless for a while, then asks again.
 * nginx gets a similar spread from EPOLLEXCLUSIVE, which libevent 2.1
 * cannot ask for, and whose wake-one stops only at a worker asleep in
 * epoll_wait (the kernel's ep_poll_callback): a worker waiting in its
 * io_uring ring, through a poll on its epoll descriptor, would be passed
 * over and woken with the rest. reuse_port (a listening socket per
 * worker, the kernel's hash choosing) needs none of this and takes no
 * part.
 *
 * The arbiter makes the board before its first fork, takes a slot for
 * each worker it forks and gives it back when that worker is reaped. The
 * worker writes only its own slot (atomics, relaxed: a stale count makes
 * one accept go to the other worker, never a connection wait); the slots
 * are a cache line apart, so two workers' writes do not contend.
 */
#ifndef GN_WORKERS_BALANCE_H
#define GN_WORKERS_BALANCE_H

#include <stddef.h>
#include <stdint.h>

struct gn_balance;

/* The most workers a board holds: twice the largest `workers`, for a
 * reload's two generations. A worker forked when every slot is taken
 * accepts as it would without a board. */
#define GN_BALANCE_SLOTS 2048

/* A board in shared anonymous memory, every slot free; NULL with errno
 * set. Its pages are touched only as far as slots are taken. */
struct gn_balance *gn__balance_new(void);

void gn__balance_free(struct gn_balance *b);

/* The arbiter, before it forks a worker: a free slot for it, its counts
 * zero and not accepting yet; -1 when none is free (or B is NULL). */
int gn__balance_take(struct gn_balance *b);

/* The arbiter, once the worker in SLOT is reaped: free again. */
void gn__balance_give_back(struct gn_balance *b, int slot);

/* What a worker does about new connections now. */
enum gn_balance_state {
    GN_BALANCE_OFF = 1, /* takes none: at its cap, short of descriptors,
                           stopping or retiring */
    GN_BALANCE_ACCEPTING,
    GN_BALANCE_YIELDING, /* holding back for a moment: the others take
                            them, and do not hold back for it */
};

/* The worker in SLOT: what it does about new connections now. */
void gn__balance_set_state(struct gn_balance *b, int slot,
                           enum gn_balance_state state);

/* The worker in SLOT, before it accepts: a key naming the listening
 * sockets it shares with other workers (workers/accept.c makes it of
 * their inode numbers); 0 until set. Workers balance only with those of
 * the same key: during a reload that listens elsewhere, the old
 * generation's workers accept until they are told to stop, and one of
 * them holding back for a new one, which takes nothing from its
 * listeners, would leave its own backlog waiting. */
void gn__balance_set_group(struct gn_balance *b, int slot, uint64_t group);

/* The worker in SLOT: the connections it holds, and how many it has
 * accepted since it started. */
void gn__balance_set_counts(struct gn_balance *b, int slot, size_t conns,
                            uint64_t accepted);

/* Whether the worker in SLOT, holding MINE connections, should leave the
 * next connection to another of its group: one that accepts (not one holding back
 * itself, so two never hold back for each other) and holds fewer than
 * MINE by more than GN_BALANCE_SLACK and a sixteenth of its own. 0 when B
 * is NULL, SLOT is -1 or no other worker accepts. */
int gn__balance_yield(const struct gn_balance *b, int slot, size_t mine);

/* The connections every worker of SLOT's group but SLOT's has accepted,
 * summed: whether they took any while the one in SLOT held back. */
uint64_t gn__balance_others_accepted(const struct gn_balance *b, int slot);

/* As close as two workers' counts are kept: 1 apart, and a sixteenth of
 * the lower one more, so that thousands of connections do not make every
 * accept a turn-taking (measured: two workers 23/27 with wrk's 50
 * connections served 8-20 % fewer requests/s than 25/25). */
#define GN_BALANCE_SLACK 1

#endif /* GN_WORKERS_BALANCE_H */
