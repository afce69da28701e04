/*
 * The balance board (workers/balance.h): a slot per worker in one shared
 * anonymous mapping, made by the arbiter and inherited by every worker it
 * forks. The arbiter alone takes and frees slots; a worker writes only its
 * own and reads the others'.
 */
#include "workers/balance.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

/* A slot's state: SLOT_FREE, or the worker's gn_balance_state. */
#define SLOT_FREE 0
_Static_assert(GN_BALANCE_OFF != SLOT_FREE, "a taken slot must not look free");

/* A cache line each: two workers accepting at once write their own. */
struct slot {
    _Atomic int state;
    _Atomic int32_t conns;
    _Atomic uint64_t accepted;
    _Atomic uint64_t group; /* gn__balance_set_group's key */
} __attribute__((aligned(64)));

struct gn_balance {
    /* One past the highest slot ever taken: how far readers look. Only
     * the arbiter writes it, before the fork that hands the slot out. */
    _Atomic int top;
    struct slot slots[GN_BALANCE_SLOTS];
};

struct gn_balance *gn__balance_new(void)
{
    void *p = mmap(NULL, sizeof(struct gn_balance), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p; /* zero: every slot free */
}

void gn__balance_free(struct gn_balance *b)
{
    if (b != NULL)
        munmap(b, sizeof(*b));
}

int gn__balance_take(struct gn_balance *b)
{
    if (b == NULL)
        return -1;
    for (int i = 0; i < GN_BALANCE_SLOTS; i++) {
        struct slot *s = &b->slots[i];

        if (atomic_load_explicit(&s->state, memory_order_relaxed) !=
            SLOT_FREE)
            continue;
        atomic_store_explicit(&s->conns, 0, memory_order_relaxed);
        atomic_store_explicit(&s->accepted, 0, memory_order_relaxed);
        atomic_store_explicit(&s->group, 0, memory_order_relaxed);
        atomic_store_explicit(&s->state, GN_BALANCE_OFF, memory_order_release);
        if (i >= atomic_load_explicit(&b->top, memory_order_relaxed))
            atomic_store_explicit(&b->top, i + 1, memory_order_release);
        return i;
    }
    return -1;
}

static bool valid(const struct gn_balance *b, int slot)
{
    return b != NULL && slot >= 0 && slot < GN_BALANCE_SLOTS;
}

void gn__balance_give_back(struct gn_balance *b, int slot)
{
    if (valid(b, slot))
        atomic_store_explicit(&b->slots[slot].state, SLOT_FREE,
                              memory_order_release);
}

void gn__balance_set_state(struct gn_balance *b, int slot,
                           enum gn_balance_state state)
{
    if (valid(b, slot))
        atomic_store_explicit(&b->slots[slot].state, (int)state,
                              memory_order_relaxed);
}

void gn__balance_set_group(struct gn_balance *b, int slot, uint64_t group)
{
    if (valid(b, slot))
        atomic_store_explicit(&b->slots[slot].group, group,
                              memory_order_relaxed);
}

/* Whether the worker in slot I shares the listeners of GROUP's. */
static bool in_group(const struct gn_balance *b, int i, uint64_t group)
{
    return atomic_load_explicit(&b->slots[i].group, memory_order_relaxed) ==
           group;
}

static uint64_t group_of(const struct gn_balance *b, int slot)
{
    return atomic_load_explicit(&b->slots[slot].group, memory_order_relaxed);
}

void gn__balance_set_counts(struct gn_balance *b, int slot, size_t conns,
                            uint64_t accepted)
{
    if (!valid(b, slot))
        return;
    atomic_store_explicit(&b->slots[slot].conns,
                          conns > INT32_MAX ? INT32_MAX : (int32_t)conns,
                          memory_order_relaxed);
    atomic_store_explicit(&b->slots[slot].accepted, accepted,
                          memory_order_relaxed);
}

int gn__balance_yield(const struct gn_balance *b, int slot, size_t mine)
{
    int top;
    int64_t least = -1;
    uint64_t group;

    if (!valid(b, slot))
        return 0;
    group = group_of(b, slot);
    top = atomic_load_explicit(&b->top, memory_order_acquire);
    for (int i = 0; i < top; i++) {
        const struct slot *s = &b->slots[i];
        int state = atomic_load_explicit(&s->state, memory_order_relaxed);
        int32_t n;

        if (i == slot ||
            (state != GN_BALANCE_ACCEPTING && state != GN_BALANCE_YIELDING) ||
            !in_group(b, i, group))
            continue;
        n = atomic_load_explicit(&s->conns, memory_order_relaxed);
        if (least < 0 || n < least)
            least = n;
    }
    return least >= 0 &&
           (int64_t)mine > least + least / 16 + GN_BALANCE_SLACK;
}

uint64_t gn__balance_others_accepted(const struct gn_balance *b, int slot)
{
    uint64_t sum = 0, group;
    int top;

    if (!valid(b, slot))
        return 0;
    group = group_of(b, slot);
    top = atomic_load_explicit(&b->top, memory_order_acquire);
    for (int i = 0; i < top; i++)
        if (i != slot && in_group(b, i, group))
            sum += atomic_load_explicit(&b->slots[i].accepted,
                                        memory_order_relaxed);
    return sum;
}
