/* The bot world: zones, the spatial grid, one bot's update. See bots_world.h. */
#include "bots_world.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers (splitmix64: one stream per bot) -------------------- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    return (uint32_t)(mix64(*s) >> 32);
}

static float rndf(uint64_t *s) { return (float)(rnd(s) >> 8) * (1.0f / 16777216.0f); }

/* ---- memory --------------------------------------------------------------- */

static void *zone_alloc(const ctpb_pool *p, int node, size_t size)
{
    void *m = p && p->alloc_on_node ? p->alloc_on_node(p->impl, node, size) : malloc(size);
    if (m)
        memset(m, 0, size); /* first touch by the creating thread; the pool's
                               allocator has already bound the pages to node */
    return m;
}

static void zone_free(const ctpb_pool *p, void *m, size_t size)
{
    if (!m)
        return;
    if (p && p->free_on_node)
        p->free_on_node(p->impl, m, size);
    else
        free(m);
}

/* ---- creation ------------------------------------------------------------- */

static void clamp_to_zone(const zone *z, float *x, float *y)
{
    if (*x < 0.0f)
        *x = 0.0f;
    if (*x > (float)WORLD_CELLS - 0.01f)
        *x = (float)WORLD_CELLS - 0.01f;
    if (*y < z->y0)
        *y = z->y0;
    if (*y > z->y1 - 0.01f)
        *y = z->y1 - 0.01f;
}

static void pick_hub_spot(const zone *z, uint64_t *rng, float *x, float *y)
{
    uint32_t h = rnd(rng) % z->hubs;
    /* a spread of about 3 cells around the hub: bots crowd where hubs are */
    *x = z->hub_x[h] + (rndf(rng) + rndf(rng) + rndf(rng) - 1.5f) * 2.0f;
    *y = z->hub_y[h] + (rndf(rng) + rndf(rng) + rndf(rng) - 1.5f) * 2.0f;
    clamp_to_zone(z, x, y);
}

int world_create(world *w, size_t nbots, int nzones, uint64_t seed, const ctpb_pool *pool)
{
    memset(w, 0, sizeof *w);
    if (nzones < 1 || nzones > 64 || nbots < (size_t)nzones || nbots > (1u << 30))
        return -1;
    w->nbots = nbots;
    w->nzones = nzones;
    w->per_zone = (uint32_t)(nbots / (size_t)nzones);
    w->band_rows = WORLD_CELLS / (uint32_t)nzones;
    w->pool = pool;
    int nodes = pool && pool->nodes > 0 ? pool->nodes : 1;
    for (int zi = 0; zi < nzones; zi++) {
        zone *z = &w->zones[zi];
        z->node = zi % nodes;
        z->first = (uint32_t)zi * w->per_zone;
        z->count = zi == nzones - 1 ? (uint32_t)nbots - z->first : w->per_zone;
        z->row0 = (uint32_t)zi * w->band_rows;
        uint32_t rows = zi == nzones - 1 ? WORLD_CELLS - z->row0 : w->band_rows;
        z->y0 = (float)z->row0;
        z->y1 = (float)(z->row0 + rows);
        size_t cells = (size_t)rows * WORLD_CELLS;
        z->bytes_bots = z->count * sizeof(bot);
        z->bytes_cells = (cells + 1) * sizeof(uint32_t);
        z->bytes_entries = z->count * sizeof(grid_entry);
        z->bots = zone_alloc(pool, z->node, z->bytes_bots);
        z->cursor = zone_alloc(pool, z->node, z->bytes_cells);
        for (int g = 0; g < 2; g++) {
            z->grid[g].cell_start = zone_alloc(pool, z->node, z->bytes_cells);
            z->grid[g].entries = zone_alloc(pool, z->node, z->bytes_entries);
            if (!z->grid[g].cell_start || !z->grid[g].entries) {
                world_destroy(w);
                return -2;
            }
        }
        if (!z->bots || !z->cursor) {
            world_destroy(w);
            return -2;
        }
        uint64_t zr = seed ^ mix64((uint64_t)zi + 1);
        z->hubs = z->count / 40;
        if (z->hubs < 2)
            z->hubs = 2;
        if (z->hubs > 64)
            z->hubs = 64;
        for (uint32_t h = 0; h < z->hubs; h++) {
            z->hub_x[h] = 16.0f + rndf(&zr) * (float)(WORLD_CELLS - 32);
            z->hub_y[h] = z->y0 + 1.0f + rndf(&zr) * ((float)rows - 2.0f);
        }
        for (uint32_t i = 0; i < z->count; i++) {
            bot *b = &z->bots[i];
            b->rng = mix64(seed * 0x100000001b3ull + z->first + i);
            pick_hub_spot(z, &b->rng, &b->x, &b->y);
            pick_hub_spot(z, &b->rng, &b->dest_x, &b->dest_y);
            b->hp = 50.0f + rndf(&b->rng) * 50.0f;
            b->mana = rndf(&b->rng) * 100.0f;
            b->faction = (uint8_t)(rnd(&b->rng) & 1);
            b->grouped = rnd(&b->rng) % 100 < 3;
            b->target = -1;
            b->cls = b->pending = CTPB_MEDIUM; /* new bots start MEDIUM */
        }
    }
    for (int zi = 0; zi < nzones; zi++)
        world_rebuild_zone(w, zi);
    w->front = 1;
    return 0;
}

void world_destroy(world *w)
{
    for (int zi = 0; zi < w->nzones; zi++) {
        zone *z = &w->zones[zi];
        zone_free(w->pool, z->bots, z->bytes_bots);
        zone_free(w->pool, z->cursor, z->bytes_cells);
        for (int g = 0; g < 2; g++) {
            zone_free(w->pool, z->grid[g].cell_start, z->bytes_cells);
            zone_free(w->pool, z->grid[g].entries, z->bytes_entries);
        }
    }
    memset(w, 0, sizeof *w);
}

/* ---- the grid --------------------------------------------------------------- */

static uint32_t local_cell(const zone *z, float x, float y)
{
    return (uint32_t)(y - z->y0) * WORLD_CELLS + (uint32_t)x;
}

void world_rebuild_zone(world *w, int zi)
{
    zone *z = &w->zones[zi];
    zone_grid *g = &z->grid[1 - w->front];
    size_t cells = z->bytes_cells / sizeof(uint32_t) - 1;
    uint32_t *start = g->cell_start;
    memset(start, 0, z->bytes_cells);
    for (uint32_t i = 0; i < z->count; i++)
        start[local_cell(z, z->bots[i].x, z->bots[i].y) + 1]++;
    for (size_t c = 1; c <= cells; c++)
        start[c] += start[c - 1];
    memcpy(z->cursor, start, cells * sizeof(uint32_t));
    for (uint32_t i = 0; i < z->count; i++) {
        const bot *b = &z->bots[i];
        grid_entry *e = &g->entries[z->cursor[local_cell(z, b->x, b->y)]++];
        e->x = b->x;
        e->y = b->y;
        e->hp = b->dead ? 0.0f : b->hp;
        e->id_faction = (z->first + i) << 1 | b->faction;
    }
}

typedef struct query_result {
    uint32_t all, enemies, allies;
    float enemy_hp, nearest_d2, weakest_hp, sum_x, sum_y;
    int32_t nearest, weakest;
} query_result;

/* Everything within r cells of (x, y) in the front buffer, except `self`. */
static void query(const world *w, float x, float y, int r, uint32_t self, unsigned faction, query_result *q)
{
    memset(q, 0, sizeof *q);
    q->nearest = q->weakest = -1;
    q->nearest_d2 = 1e30f;
    q->weakest_hp = 1e30f;
    int cx = (int)x, cy = (int)y;
    int r0 = cy - r < 0 ? 0 : cy - r, r1 = cy + r > WORLD_CELLS - 1 ? WORLD_CELLS - 1 : cy + r;
    int c0 = cx - r < 0 ? 0 : cx - r, c1 = cx + r > WORLD_CELLS - 1 ? WORLD_CELLS - 1 : cx + r;
    float reach2 = ((float)r + 0.5f) * ((float)r + 0.5f);
    for (int row = r0; row <= r1; row++) {
        uint32_t zi = (uint32_t)row / w->band_rows;
        if (zi >= (uint32_t)w->nzones)
            zi = (uint32_t)w->nzones - 1;
        const zone *z = &w->zones[zi];
        const zone_grid *g = &z->grid[w->front];
        uint32_t base = ((uint32_t)row - z->row0) * WORLD_CELLS;
        /* the cells of one row are contiguous: one range of entries */
        for (uint32_t k = g->cell_start[base + (uint32_t)c0]; k < g->cell_start[base + (uint32_t)c1 + 1]; k++) {
            const grid_entry *e = &g->entries[k];
            uint32_t id = e->id_faction >> 1;
            if (id == self || e->hp <= 0.0f)
                continue;
            float dx = e->x - x, dy = e->y - y, d2 = dx * dx + dy * dy;
            if (d2 > reach2)
                continue;
            q->all++;
            q->sum_x += e->x;
            q->sum_y += e->y;
            if ((e->id_faction & 1) != faction) {
                q->enemies++;
                q->enemy_hp += e->hp;
                if (d2 < q->nearest_d2) {
                    q->nearest_d2 = d2;
                    q->nearest = (int32_t)id;
                }
            } else {
                q->allies++;
                if (e->hp < q->weakest_hp) {
                    q->weakest_hp = e->hp;
                    q->weakest = (int32_t)id;
                }
            }
        }
    }
}

/* ---- path search -------------------------------------------------------------- */

enum { PATH_MAX = 128 };

static int blocked(uint32_t x, uint32_t y, uint32_t salt)
{
    uint32_t h = (x * 73856093u) ^ (y * 19349663u) ^ salt;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return h % 100u < 30u; /* 30% of the terrain is impassable */
}

/* Breadth-first distance field over a size x size patch of terrain around
 * (ox, oy), from the patch's centre (the bot weighs every reachable spot,
 * not only (gx, gy)). Returns the cells reached plus the distance to (gx, gy)
 * in patch coordinates if it is reachable. */
static uint32_t path_search(int ox, int oy, int size, int gx, int gy, uint32_t salt)
{
    uint8_t seen[PATH_MAX * PATH_MAX];
    uint16_t queue[PATH_MAX * PATH_MAX];
    uint8_t dist[PATH_MAX * PATH_MAX];
    if (size > PATH_MAX)
        size = PATH_MAX;
    gx = gx < 0 ? 0 : gx >= size ? size - 1 : gx;
    gy = gy < 0 ? 0 : gy >= size ? size - 1 : gy;
    memset(seen, 0, (size_t)size * (size_t)size);
    int s = size / 2 * size + size / 2, goal = gy * size + gx;
    uint32_t head = 0, tail = 0, expanded = 0;
    queue[tail++] = (uint16_t)s;
    seen[s] = 1;
    dist[s] = 0;
    while (head < tail) {
        int c = queue[head++], cx = c % size, cy = c / size;
        expanded++;
        static const int dx[4] = { 1, -1, 0, 0 }, dy[4] = { 0, 0, 1, -1 };
        for (int k = 0; k < 4; k++) {
            int nx = cx + dx[k], ny = cy + dy[k];
            if (nx < 0 || ny < 0 || nx >= size || ny >= size)
                continue;
            int n = ny * size + nx;
            if (seen[n])
                continue;
            seen[n] = 1;
            if (n != goal && blocked((uint32_t)(ox + nx), (uint32_t)(oy + ny), salt))
                continue;
            dist[n] = (uint8_t)(dist[c] + 1);
            queue[tail++] = (uint16_t)n;
        }
    }
    return expanded + (seen[goal] ? dist[goal] : 0u);
}

static uint32_t path_to(const bot *b, float tx, float ty, int size, uint32_t salt)
{
    int half = size / 2;
    int ox = (int)b->x - half, oy = (int)b->y - half;
    return path_search(ox, oy, size, (int)tx - ox, (int)ty - oy, salt);
}

/* ---- one update ---------------------------------------------------------------- */

enum { ACT_ATTACK, ACT_FLEE, ACT_HEAL_SELF, ACT_HEAL_ALLY, ACT_MOVE, ACT_NEW_DEST, ACT_LOOT, ACT_REST, ACT_COUNT };

static void die(bot *b, uint32_t tick)
{
    b->dead = 1;
    b->hp = 0.0f;
    b->dead_since = tick;
    b->target = -1;
    b->combat_ticks = 0;
    b->resurrect_asked = 0;
}

static void step_towards(const zone *z, bot *b, float tx, float ty, float dist)
{
    float dx = tx - b->x, dy = ty - b->y, d = sqrtf(dx * dx + dy * dy);
    if (d <= dist || d < 1e-6f) {
        b->x = tx;
        b->y = ty;
    } else {
        b->x += dx / d * dist;
        b->y += dy / d * dist;
    }
    clamp_to_zone(z, &b->x, &b->y);
}

int world_update_bot(world *w, uint32_t id, uint32_t tick, action out[2])
{
    zone *z = &w->zones[world_zone_of(w, id)];
    bot *b = &z->bots[id - z->first];
    int n = 0;
    uint32_t elapsed = tick - b->last_update;
    float dt = (float)(elapsed > 100 ? 100 : elapsed) * 0.05f;
    b->last_update = tick;
    b->combat_ticks = (uint16_t)(b->combat_ticks > elapsed ? b->combat_ticks - elapsed : 0);
    if (b->dead) {
        if (!b->resurrect_asked && tick - b->dead_since >= 20) {
            out[n++] = (action){ ACTION_RESURRECT, id, 0.0f };
            b->resurrect_asked = 1;
        }
        return n;
    }
    uint32_t salt = (uint32_t)(b->rng >> 7);

    /* 3 to 5 radius queries: around me, at my destination, wider around me,
     * around the nearest enemy, around my hub */
    query_result near, at_dest, wide, around_enemy, around_hub;
    int queries = 3 + (int)(rnd(&b->rng) % 3);
    query(w, b->x, b->y, 3, id, b->faction, &near);
    query(w, b->dest_x, b->dest_y, 2, id, b->faction, &at_dest);
    query(w, b->x, b->y, 6, id, b->faction, &wide);
    memset(&around_enemy, 0, sizeof around_enemy);
    memset(&around_hub, 0, sizeof around_hub);
    if (queries > 3) {
        float ex = near.all ? near.sum_x / (float)near.all : b->x, ey = near.all ? near.sum_y / (float)near.all : b->y;
        query(w, ex, ey, 3, id, b->faction, &around_enemy);
    }
    if (queries > 4) {
        uint32_t h = id % z->hubs;
        query(w, z->hub_x[h], z->hub_y[h], 4, id, b->faction, &around_hub);
    }

    /* decision scoring: features, a fixed weight table, and a scan of move
     * directions weighing crowding against the way to the destination */
    float feat[8] = {
        (float)near.enemies, (float)near.allies, b->hp / 100.0f, b->mana / 100.0f,
        (float)at_dest.all, (float)wide.enemies - (float)wide.allies, (float)around_enemy.allies,
        (float)around_hub.all * 0.1f,
    };
    static const float weights[ACT_COUNT][8] = {
        { 1.2f, 0.3f, 0.8f, 0.1f, 0.0f, -0.2f, -0.3f, 0.0f },  /* attack */
        { 0.6f, -0.4f, -1.5f, 0.0f, 0.0f, 0.4f, 0.2f, 0.0f },  /* flee */
        { 0.0f, 0.0f, -1.2f, 0.9f, 0.0f, 0.0f, 0.0f, 0.0f },   /* heal self */
        { 0.0f, 0.5f, 0.2f, 0.7f, 0.0f, 0.0f, 0.0f, 0.0f },    /* heal ally */
        { -0.2f, 0.0f, 0.3f, 0.0f, -0.1f, -0.1f, 0.0f, 0.1f }, /* move */
        { -0.3f, 0.1f, 0.4f, 0.3f, 0.2f, -0.1f, 0.0f, 0.0f },  /* new destination */
        { -0.5f, 0.0f, 0.2f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f },   /* loot */
        { -0.6f, 0.2f, -0.3f, -0.4f, 0.0f, -0.2f, 0.0f, 0.0f },/* rest */
    };
    float score[ACT_COUNT];
    for (int a = 0; a < ACT_COUNT; a++) {
        float s = 0.0f;
        for (int f = 0; f < 8; f++)
            s += weights[a][f] * feat[f];
        score[a] = s + rndf(&b->rng) * 0.3f;
    }
    float ddx = b->dest_x - b->x, ddy = b->dest_y - b->y, dest_d2 = ddx * ddx + ddy * ddy;
    float best_dir = 0.0f, best_dir_score = -1e30f;
    for (int k = 0; k < 32; k++) {
        float ang = (float)k * 0.19634954f, cx = cosf(ang), sy = sinf(ang);
        float toward = dest_d2 > 0.0f ? (cx * ddx + sy * ddy) / sqrtf(dest_d2) : 0.0f;
        float crowd = near.all ? ((near.sum_x / (float)near.all - b->x) * cx + (near.sum_y / (float)near.all - b->y) * sy) : 0.0f;
        float s = toward - 0.1f * crowd - 0.05f * (float)wide.enemies * fabsf(sy);
        if (s > best_dir_score) {
            best_dir_score = s;
            best_dir = ang;
        }
    }
    /* what is possible at all */
    int can_attack = near.enemies > 0 && near.nearest_d2 <= 2.25f && rnd(&b->rng) % 100 < 3;
    if (b->combat_ticks > 0 && near.enemies > 0)
        can_attack = 1;
    if (!can_attack)
        score[ACT_ATTACK] = -1e30f;
    if (near.enemies == 0)
        score[ACT_FLEE] = -1e30f;
    if (b->mana < 10.0f || b->hp > 70.0f)
        score[ACT_HEAL_SELF] = -1e30f;
    if (b->mana < 15.0f || near.weakest < 0 || near.weakest_hp > 50.0f)
        score[ACT_HEAL_ALLY] = -1e30f;
    if (dest_d2 < 0.25f)
        score[ACT_MOVE] = -1e30f;
    if (dest_d2 >= 0.25f || b->hp < 80.0f || b->mana < 60.0f || rnd(&b->rng) % 100 >= 4)
        score[ACT_NEW_DEST] = -1e30f;
    if (b->target < 0 || b->combat_ticks > 0)
        score[ACT_LOOT] = -1e30f;
    int act = ACT_REST;
    for (int a = 0; a < ACT_COUNT; a++)
        if (score[a] > score[act])
            act = a;

    uint32_t cost = 0;
    switch (act) {
    case ACT_ATTACK: {
        b->target = near.nearest;
        b->combat_ticks = 20;
        float dmg = (4.0f + rndf(&b->rng) * 4.0f) * (dt < 0.05f ? 0.05f : dt) * 2.0f;
        out[n++] = (action){ ACTION_HIT, (uint32_t)near.nearest, dmg };
        b->hp -= (float)near.enemies * 1.5f * dt * (0.5f + rndf(&b->rng));
        /* chase: a short path, sometimes a long one around the terrain */
        int size = rnd(&b->rng) % 100 < 8 ? 96 : 32;
        cost += path_to(b, b->x + cosf(best_dir) * 3.0f, b->y + sinf(best_dir) * 3.0f, size, salt);
        break;
    }
    case ACT_FLEE: {
        float ex = near.sum_x / (float)near.all, ey = near.sum_y / (float)near.all;
        b->dest_x = b->x + (b->x - ex) * 3.0f;
        b->dest_y = b->y + (b->y - ey) * 3.0f;
        clamp_to_zone(z, &b->dest_x, &b->dest_y);
        b->hp -= (float)near.enemies * 0.5f * dt;
        cost += path_to(b, b->dest_x, b->dest_y, 32, salt);
        step_towards(z, b, b->dest_x, b->dest_y, 6.0f * dt);
        break;
    }
    case ACT_HEAL_SELF:
        b->mana -= 10.0f;
        b->hp += 15.0f;
        break;
    case ACT_HEAL_ALLY:
        b->mana -= 15.0f;
        out[n++] = (action){ ACTION_HIT, (uint32_t)near.weakest, -12.0f };
        break;
    case ACT_MOVE:
        cost += path_to(b, b->dest_x, b->dest_y, 32, salt);
        step_towards(z, b, b->x + cosf(best_dir) * 4.0f * dt, b->y + sinf(best_dir) * 4.0f * dt, 4.0f * dt);
        step_towards(z, b, b->dest_x, b->dest_y, 4.0f * dt);
        break;
    case ACT_NEW_DEST:
        if (rnd(&b->rng) % 100 < 3) { /* travel to another hub */
            pick_hub_spot(z, &b->rng, &b->dest_x, &b->dest_y);
        } else { /* wander near where it is */
            b->dest_x = b->x + (rndf(&b->rng) - 0.5f) * 12.0f;
            b->dest_y = b->y + (rndf(&b->rng) - 0.5f) * 12.0f;
            clamp_to_zone(z, &b->dest_x, &b->dest_y);
        }
        cost += path_to(b, b->dest_x, b->dest_y, 48, salt);
        break;
    case ACT_LOOT:
        b->target = -1;
        out[n++] = (action){ ACTION_LOOT, id, 0.0f };
        break;
    default: /* rest, and plan a patrol around the spot */
        cost += path_to(b, b->x + 6.0f, b->y + 6.0f, 24, salt);
        b->mana += 8.0f * dt;
        b->hp += 3.0f * dt;
        break;
    }
    /* the heavy tail: now and then a full route recomputation */
    if (rnd(&b->rng) % 1000 < 5)
        cost += path_to(b, b->x + 40.0f, b->y + 60.0f, PATH_MAX, salt + 1);
    b->mana = b->mana > 100.0f ? 100.0f : b->mana < 0.0f ? 0.0f : b->mana;
    b->hp = b->hp > 100.0f ? 100.0f : b->hp;
    b->rng ^= cost; /* the searches' results feed the bot's future */
    if (b->hp <= 0.0f)
        die(b, tick);
    return n;
}

/* ---- main thread ------------------------------------------------------------------ */

void world_apply(world *w, const action *a, uint32_t tick)
{
    zone *z = &w->zones[world_zone_of(w, a->bot)];
    bot *b = &z->bots[a->bot - z->first];
    switch (a->kind) {
    case ACTION_HIT:
        if (b->dead)
            return;
        b->hp -= a->amount;
        if (b->hp > 100.0f)
            b->hp = 100.0f;
        if (a->amount > 0.0f)
            b->combat_ticks = 20;
        if (b->hp <= 0.0f)
            die(b, tick);
        break;
    case ACTION_RESURRECT:
        b->dead = 0;
        b->hp = 60.0f;
        b->mana = 50.0f;
        pick_hub_spot(z, &b->rng, &b->x, &b->y);
        break;
    case ACTION_LOOT:
        w->loot++;
        break;
    default:
        break;
    }
}

void world_classify(bot *b, uint32_t tick)
{
    float dx = b->dest_x - b->x, dy = b->dest_y - b->y;
    uint8_t want;
    if (b->dead || b->hp < 20.0f)
        want = CTPB_EMERGENCY;
    else if (b->combat_ticks > 0 || b->grouped)
        want = CTPB_HIGH;
    else if (dx * dx + dy * dy >= 0.25f || b->mana < 30.0f || b->target >= 0)
        want = CTPB_MEDIUM;
    else
        want = CTPB_LOW;
    if (want == b->cls) {
        b->pending = want;
        return;
    }
    if (want != b->pending) {
        b->pending = want;
        b->pending_since = tick;
    }
    /* 500 ms (10 ticks) of hysteresis; a bot in danger moves up at once */
    if (want == CTPB_EMERGENCY || tick - b->pending_since >= 10)
        b->cls = want;
}

uint64_t world_checksum(world *w)
{
    uint64_t h = 1469598103934665603ull;
    for (int zi = 0; zi < w->nzones; zi++)
        for (uint32_t i = 0; i < w->zones[zi].count; i++) {
            const bot *b = &w->zones[zi].bots[i];
            uint32_t v[6];
            memcpy(&v[0], &b->x, 4);
            memcpy(&v[1], &b->y, 4);
            memcpy(&v[2], &b->hp, 4);
            memcpy(&v[3], &b->mana, 4);
            v[4] = b->cls | (uint32_t)b->dead << 8;
            v[5] = (uint32_t)b->rng;
            for (int k = 0; k < 6; k++)
                h = (h ^ v[k]) * 1099511628211ull;
        }
    return h ^ w->loot;
}
