/* The simulated world of the bot benchmark: bots in zones, the spatial grid,
 * one bot's update. Internal to CTPBenchKernels; the tick driver (bots_run.c)
 * is its only user.
 *
 * Determinism: an update writes only its own bot and its own action slots,
 * and reads other bots only through the grid's front buffer, which nothing
 * writes during an update batch. The main thread changes bots only between
 * batches, in a fixed order. So the final world, and its checksum, are the
 * same whatever runtime ran the updates and in whatever order. */
#ifndef CTPB_BOTS_WORLD_H
#define CTPB_BOTS_WORLD_H

#include "ctp_bots.h"

#include <stdint.h>

#define WORLD_CELLS 512 /* the grid is WORLD_CELLS x WORLD_CELLS cells */

typedef struct bot {
    float x, y;           /* position in cells */
    float dest_x, dest_y; /* where it is going */
    float hp, mana;       /* 0..100 */
    uint64_t rng;         /* the bot's own random stream */
    int32_t target;       /* bot id being fought, -1 = none */
    uint32_t last_update; /* tick of the last update */
    uint32_t pending_since;
    uint32_t dead_since;
    uint16_t combat_ticks; /* ticks of combat left */
    uint8_t faction, grouped, dead, resurrect_asked;
    uint8_t cls, pending; /* current class, and the class it wants (hysteresis) */
    uint8_t deferred;     /* was due but over budget: due again next tick */
} bot;

/* A grid entry: a copy of what queries need, so they never read live bots. */
typedef struct grid_entry {
    float x, y, hp;
    uint32_t id_faction; /* id << 1 | faction */
} grid_entry;

typedef struct zone_grid {
    uint32_t *cell_start; /* [band cells + 1], offsets into entries */
    grid_entry *entries;  /* [zone bots] sorted by cell */
} zone_grid;

typedef struct zone {
    int node;
    uint32_t first, count; /* bot ids [first, first + count) */
    bot *bots;             /* on the zone's node */
    float y0, y1;          /* band [y0, y1) */
    uint32_t row0;         /* first grid row of the band */
    uint32_t hubs;
    float hub_x[64], hub_y[64];
    zone_grid grid[2];    /* front = world->front, back = 1 - front */
    uint32_t *cursor;     /* rebuild scratch, [band cells] */
    size_t bytes_bots, bytes_cells, bytes_entries;
} zone;

/* Actions an update asks the main thread to do after the wait. */
enum { ACTION_NONE = 0, ACTION_HIT, ACTION_RESURRECT, ACTION_LOOT }; /* HIT: amount > 0 damage, < 0 heal */
typedef struct action {
    uint8_t kind;
    uint32_t bot;
    float amount;
} action;

typedef struct world {
    size_t nbots;
    int nzones;
    uint32_t per_zone, band_rows;
    int front; /* which grid buffer queries read; flipped by the main thread */
    zone zones[64];
    const ctpb_pool *pool;
    uint64_t loot;
} world;

int world_create(world *w, size_t nbots, int nzones, uint64_t seed, const ctpb_pool *pool);
void world_destroy(world *w);

static inline int world_zone_of(const world *w, uint32_t id)
{
    uint32_t z = id / w->per_zone;
    return z >= (uint32_t)w->nzones ? w->nzones - 1 : (int)z;
}

/* Rebuilds zone z's band of the back buffer from its bots' positions. */
void world_rebuild_zone(world *w, int z);

/* One bot update at `tick`; writes up to 2 actions, returns how many. */
int world_update_bot(world *w, uint32_t id, uint32_t tick, action out[2]);

/* Main thread, between batches: apply one action. */
void world_apply(world *w, const action *a, uint32_t tick);

/* Main thread, before choosing who is due: desired class with hysteresis. */
void world_classify(bot *b, uint32_t tick);

uint64_t world_checksum(world *w);

#endif
