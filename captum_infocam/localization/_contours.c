/*
 * The WSOL box protocol's contours at every threshold level of a batch of quantised maps, by
 * union-find: the native CPU kernel of captum_infocam.localization.box_protocol.
 *
 * The maps hold integers in [0, 255] (the protocol's uint8 map). At a level l the foreground
 * {q > l} is 8-connected and the background {q <= l} 4-connected, as for cv2.findContours.
 * Pixels are sorted by value once (a counting sort) and switched on level after level in a
 * union-find forest, so the components of every level come out of one pass over the pixels.
 * cx_box_protocol computes, for every map and level:
 *
 *   - the pixel extents of the largest outer contour: the component of the hole-filled map
 *     of largest contour area (twice the area of the polygon through its boundary pixels),
 *     ties to the component whose first pixel comes last in raster order (MaxBoxAcc);
 *   - the best IoU with the map's ground-truth boxes over every contour, outer (components
 *     of {q > l}) and hole (components of {q <= l} off the image border) (MaxBoxAccV2).
 *
 * The torch implementation (_level_components.py) computes the same on any device; the tests
 * hold the two equal. Single-threaded and reentrant: a call owns its scratch memory, so
 * concurrent calls (ctypes releases the GIL) share nothing.
 *
 * Layout: the forest works on the map padded by a frame of one pixel that is never switched
 * on, so neighbours need no bounds checks; a pixel's id is its raster index in the padded
 * map (raster order is kept, so the smallest id of a component is its first pixel).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CX_VALUES 256

typedef struct {
    int32_t size;
    int32_t x_min, x_max, y_max;
    int32_t first; /* smallest padded raster index: the first pixel, and y_min */
    int32_t area2; /* twice the contour area (largest-contour pass) */
    int32_t reach; /* smallest hole-filled value of the pixels (hole pass) */
    int32_t slot;  /* position in the list of live components */
} component_t;

/* Per mask of the switched-on neighbours among the 8 (bit k: ring position k, clockwise from
   the top left): the groups of them that are already connected (consecutive ring positions
   touch, and so do the orthogonal ones N-E, E-S, S-W, W-N), one representative each, so a
   switched-on pixel looks up one root per group instead of one per neighbour; and the 2x2
   windows it completes to three or four corners. */
struct ring_tables {
    uint8_t groups[256];
    uint8_t representative[256][4];
    uint8_t windows[256];
};

static void ring_tables_init(struct ring_tables *tables) {
    static const int touching[12][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6},
                                        {6, 7}, {7, 0}, {1, 3}, {3, 5}, {5, 7}, {7, 1}};
    static const int window[4][3] = {{7, 0, 1}, {1, 2, 3}, {3, 4, 5}, {5, 6, 7}};
    for (int mask = 0; mask < 256; ++mask) {
        int label[8];
        for (int k = 0; k < 8; ++k) label[k] = k;
        for (int pass = 0; pass < 8; ++pass) /* propagate the smallest label */
            for (int e = 0; e < 12; ++e) {
                int a = touching[e][0], b = touching[e][1];
                if ((mask >> a & 1) && (mask >> b & 1)) {
                    int low = label[a] < label[b] ? label[a] : label[b];
                    label[a] = label[b] = low;
                }
            }
        tables->groups[mask] = 0;
        for (int k = 0; k < 8; ++k)
            if ((mask >> k & 1) && label[k] == k)
                tables->representative[mask][tables->groups[mask]++] = (uint8_t)k;
        tables->windows[mask] = 0;
        for (int w = 0; w < 4; ++w) {
            int on = (mask >> window[w][0] & 1) + (mask >> window[w][1] & 1) +
                     (mask >> window[w][2] & 1);
            tables->windows[mask] += on >= 2; /* with the pixel: three or four corners */
        }
    }
}

/* The components of the switched-on pixels: each pixel keeps the label of the component it
   joined when switched on, and the components form a union-find forest of their own (up[]),
   small and hot in the caches, so a neighbour's component is one pixel load and a few loads
   of up[] away. */
typedef struct {
    int32_t height, width, stride; /* stride: the padded width */
    uint8_t *on;                   /* per padded pixel: switched on (1) or not (0) */
    int32_t *label;                /* per pixel that is on: the component it joined */
    int32_t *up;                   /* per component: the next one towards its root */
    component_t *component;        /* at most one per pixel */
    int32_t *live;                 /* the root components */
    int32_t num_components, num_live;
    int32_t ring[8];           /* offsets of the 8 neighbours, clockwise from the top left */
    const struct ring_tables *tables;
} forest_t;

static int forest_alloc(forest_t *forest, int32_t height, int32_t width,
                        const struct ring_tables *tables) {
    int32_t stride = width + 2;
    size_t padded = (size_t)(height + 2) * stride, pixels = (size_t)height * width;
    forest->height = height;
    forest->width = width;
    forest->stride = stride;
    forest->tables = tables;
    forest->label = malloc(sizeof(int32_t) * padded);
    forest->on = malloc(padded);
    forest->up = malloc(sizeof(int32_t) * pixels);
    forest->component = malloc(sizeof(component_t) * pixels);
    forest->live = malloc(sizeof(int32_t) * pixels);
    const int32_t ring[8] = {-stride - 1, -stride, -stride + 1, 1,
                             stride + 1,  stride,  stride - 1,  -1};
    memcpy(forest->ring, ring, sizeof(ring));
    return forest->on != NULL && forest->label != NULL && forest->up != NULL && forest->component != NULL &&
           forest->live != NULL;
}

static void forest_free(forest_t *forest) {
    free(forest->label);
    free(forest->on);
    free(forest->up);
    free(forest->component);
    free(forest->live);
}

static void forest_reset(forest_t *forest) {
    size_t padded = (size_t)(forest->height + 2) * forest->stride;
    memset(forest->on, 0, padded);
    forest->num_components = forest->num_live = 0;
}

/* The root of a component (path halving); most are one step away. */
static inline int32_t find_root(int32_t *up, int32_t id) {
    int32_t above = up[id];
    if (above == id) return id;
    if (up[above] == above) return above;
    while (up[id] != id) {
        up[id] = up[up[id]];
        id = up[id];
    }
    return id;
}

/* The live component of largest (area2, first), -1 if none: the largest contour, ties to the
   one whose first pixel comes last in raster order. Searched for at the end of every level
   (the live components are few where the levels are many: a handful for smooth maps). */
static int32_t largest_component(const forest_t *forest) {
    int32_t best = -1;
    for (int32_t i = 0; i < forest->num_live; ++i) {
        int32_t id = forest->live[i];
        const component_t *c = forest->component + id;
        if (best < 0 || c->area2 > forest->component[best].area2 ||
            (c->area2 == forest->component[best].area2 && c->first > forest->component[best].first))
            best = id;
    }
    return best;
}

/* Join root components a != b; returns the new root. */
static int32_t unite(forest_t *forest, int32_t a, int32_t b) {
    if (forest->component[a].size < forest->component[b].size) {
        int32_t swap = a;
        a = b;
        b = swap;
    }
    component_t *ca = forest->component + a, *cb = forest->component + b;
    forest->up[b] = a;
    ca->size += cb->size;
    if (cb->x_min < ca->x_min) ca->x_min = cb->x_min;
    if (cb->x_max > ca->x_max) ca->x_max = cb->x_max;
    if (cb->y_max > ca->y_max) ca->y_max = cb->y_max;
    if (cb->first < ca->first) ca->first = cb->first;
    if (cb->reach < ca->reach) ca->reach = cb->reach;
    ca->area2 += cb->area2;
    int32_t last = forest->live[--forest->num_live];
    forest->live[cb->slot] = last;
    forest->component[last].slot = cb->slot;
    return a;
}

static inline int32_t row_of(const forest_t *forest, int32_t pixel) {
    return pixel / forest->stride;
}

/* Switch a padded pixel on, joined to the components of its switched-on neighbours: the 8
   neighbours (a group of them that touch one another is one component already) or the 4
   orthogonal ones. reach: its hole-filled value (hole pass). with_area (largest-contour pass):
   add the 2x2 windows it completes to three or four corners, one half-square each of twice
   the polygon's area (a window is a clique, so all its corners lie in the pixel's component;
   a window over the padding has at most two corners on). */
#if defined(__GNUC__)
#define CX_INLINE static inline __attribute__((always_inline))
#else
#define CX_INLINE static inline
#endif

CX_INLINE void switch_on(forest_t *forest, int32_t pixel, int connectivity, int32_t reach,
                         int with_area) {
    int32_t *label = forest->label, *up = forest->up;
    const int32_t *ring = forest->ring;
    const uint8_t *on = forest->on;
    int32_t stride = forest->stride;
    const uint8_t *top = on + pixel - stride - 1, *bottom = on + pixel + stride - 1;
    unsigned mask = (unsigned)top[0] | (unsigned)top[1] << 1 | (unsigned)top[2] << 2 |
                    (unsigned)on[pixel + 1] << 3 | (unsigned)bottom[2] << 4 |
                    (unsigned)bottom[1] << 5 | (unsigned)bottom[0] << 6 |
                    (unsigned)on[pixel - 1] << 7;
    int32_t root = -1;
    if (connectivity == 8) {
        const uint8_t *representative = forest->tables->representative[mask];
        for (int g = 0, groups = forest->tables->groups[mask]; g < groups; ++g) {
            int32_t other = find_root(up, label[pixel + ring[representative[g]]]);
            if (root < 0)
                root = other;
            else if (other != root)
                root = unite(forest, root, other);
        }
    } else {
        for (int k = 1; k < 8; k += 2) {
            if (!(mask >> k & 1)) continue;
            int32_t other = find_root(up, label[pixel + ring[k]]);
            if (root < 0)
                root = other;
            else if (other != root)
                root = unite(forest, root, other);
        }
    }
    int32_t row = row_of(forest, pixel), x = pixel - row * forest->stride - 1, y = row - 1;
    if (root < 0) { /* a new component */
        root = forest->num_components++;
        component_t *c = forest->component + root;
        up[root] = root;
        c->size = 1;
        c->x_min = c->x_max = x;
        c->y_max = y;
        c->first = pixel;
        c->area2 = 0;
        c->reach = reach;
        c->slot = forest->num_live;
        forest->live[forest->num_live++] = root;
    } else {
        component_t *c = forest->component + root;
        c->size += 1;
        if (x < c->x_min) c->x_min = x;
        if (x > c->x_max) c->x_max = x;
        if (y > c->y_max) c->y_max = y;
        if (pixel < c->first) c->first = pixel;
        if (connectivity == 4 && reach < c->reach) c->reach = reach; /* hole pass */
    }
    label[pixel] = root;
    forest->on[pixel] = 1;
    if (with_area) {
        forest->component[root].area2 += forest->tables->windows[mask];
    }
}

/* The bins of the values between the levels: bin[v] is how many levels lie below v, so a pixel
   of bin b is above level j exactly when j < b. */
static void level_bins(const int64_t *levels, int32_t num_levels, int32_t *bin) {
    for (int32_t v = 0, j = 0; v < CX_VALUES; ++v) {
        while (j < num_levels && levels[j] < v) ++j;
        bin[v] = j;
    }
}

/* The padded ids of the pixels in the order they are switched on: descending bins from the top
   or ascending bins; raster order within a
   bin, which keeps consecutive pixels close. Only pixels with keep[p] set if keep is given;
   values and keep are padded. Descending: the pixels of bin 0 (above no level) are left out
   and until[j] counts the pixels above level j. Ascending: the pixels of bin num_levels
   (above every level) are left out and until[j] counts the pixels at or below level j. */
static void sort_by_bin(const forest_t *forest, const int32_t *values, const int32_t *bin,
                        int32_t num_levels, int descending, const uint8_t *keep, int32_t *order,
                        int32_t *until) {
    int32_t start[CX_VALUES + 1], count[CX_VALUES + 1] = {0}, total = 0;
    int32_t stride = forest->stride, first = stride + 1;
    int32_t last = forest->height * stride + forest->width, skipped = descending ? 0 : num_levels;
    for (int32_t row = first; row <= last; row += stride)
        for (int32_t p = row; p < row + forest->width; ++p)
            if (keep == NULL || keep[p]) ++count[bin[values[p]]];
    for (int32_t i = 0; i <= num_levels; ++i) {
        int32_t b = descending ? num_levels - i : i;
        start[b] = total;
        if (b != skipped) total += count[b];
        if (descending && b > 0) until[b - 1] = total;
        if (!descending && b < num_levels) until[b] = total;
    }
    for (int32_t row = first; row <= last; row += stride)
        for (int32_t p = row; p < row + forest->width; ++p) {
            int32_t b = bin[values[p]];
            if ((keep == NULL || keep[p]) && b != skipped) order[start[b]++] = p;
        }
}

static inline int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

/* A map padded with a frame of -1, below every value. */
static void pad_map(const int32_t *values, int32_t height, int32_t width, int32_t *padded) {
    int32_t stride = width + 2;
    for (int32_t p = 0; p < stride; ++p) padded[p] = padded[(height + 1) * stride + p] = -1;
    for (int32_t y = 0; y < height; ++y) {
        int32_t *row = padded + (y + 1) * stride;
        row[0] = row[width + 1] = -1;
        memcpy(row + 1, values + (size_t)y * width, sizeof(int32_t) * width);
    }
}

/* Grayscale hole filling of a padded map: filled[p] is the minimax value of the 4-connected
   paths from p to the image border (to the frame of -1 around it), i.e. the reconstruction by
   erosion of the map from its frame. Two raster scans settle most pixels (Vincent's hybrid
   algorithm); the pixels they leave too high are lowered from the seeds the second scan
   finds, in increasing order of value (a bucket queue), so each is lowered at most once more:
   at most 2 x pixels entries, in nodes[] (pixel, next). */
static void fill_holes(const int32_t *values, int32_t height, int32_t width, int32_t *filled,
                       int32_t *nodes) {
    int32_t stride = width + 2, head[CX_VALUES], count = 0;
    for (int32_t i = 0; i < CX_VALUES; ++i) head[i] = -1;
#define CX_PUSH(pixel, key)             \
    do {                                \
        nodes[2 * count] = (pixel);     \
        nodes[2 * count + 1] = head[key]; \
        head[key] = count++;            \
    } while (0)
    /* The frame, then the forward scan, which starts every pixel at the top value. */
    for (int32_t p = 0; p < stride; ++p) filled[p] = filled[(height + 1) * stride + p] = -1;
    for (int32_t y = 1; y <= height; ++y) {
        filled[y * stride] = filled[y * stride + width + 1] = -1;
        for (int32_t p = y * stride + 1; p <= y * stride + width; ++p)
            filled[p] = max32(values[p], min32(filled[p - stride], filled[p - 1]));
    }
    for (int32_t y = height; y >= 1; --y) {
        for (int32_t p = y * stride + width; p >= y * stride + 1; --p) {
            int32_t f = max32(values[p], min32(filled[p], min32(filled[p + stride], filled[p + 1])));
            filled[p] = f;
            int32_t seed = ((filled[p + stride] > f) & (filled[p + stride] > values[p + stride])) |
                           ((filled[p + 1] > f) & (filled[p + 1] > values[p + 1]));
            nodes[2 * count] = p;
            nodes[2 * count + 1] = head[f];
            head[f] = seed ? count : head[f];
            count += seed;
        }
    }
    const int32_t steps[4] = {-stride, -1, 1, stride};
    for (int32_t key = 0; key < CX_VALUES; ++key) {
        while (head[key] >= 0) {
            int32_t node = head[key], p = nodes[2 * node];
            head[key] = nodes[2 * node + 1];
            if (filled[p] != key) continue; /* lowered since it was queued */
            for (int k = 0; k < 4; ++k) {
                int32_t q = p + steps[k];
                if (filled[q] <= key || filled[q] == values[q]) continue; /* the frame: -1 */
                filled[q] = max32(key, values[q]);
                CX_PUSH(q, filled[q]);
            }
        }
    }
#undef CX_PUSH
}

/* Largest outer contour at every level: components of {filled > l}, levels from the top. */
static void largest_boxes(forest_t *forest, const int32_t *filled, const int64_t *levels,
                          int32_t num_levels, int32_t *order, int32_t *out) {
    int32_t bin[CX_VALUES], until[CX_VALUES], next = 0;
    level_bins(levels, num_levels, bin);
    sort_by_bin(forest, filled, bin, num_levels, 1, NULL, order, until);
    forest_reset(forest);
    for (int32_t j = num_levels - 1; j >= 0; --j) {
        while (next < until[j]) switch_on(forest, order[next++], 8, 0, 1);
        int32_t best = largest_component(forest), *box = out + (size_t)j * 4;
        if (best < 0) {
            box[0] = box[1] = box[2] = box[3] = 0;
        } else {
            const component_t *c = forest->component + best;
            box[0] = c->x_min;
            box[1] = c->first / forest->stride - 1;
            box[2] = c->x_max;
            box[3] = c->y_max;
        }
    }
}

/* The reference's box of a component (cv2.boundingRect of its contour, clipped to the image):
   pad 0 for an outer contour, 1 for a hole, whose contour runs through the foreground pixels
   around it; then its best IoU with the valid ground-truth boxes (inclusive: + 1 in widths),
   -1 if none is valid. The operations are box_iou's, in its order. */
static double best_iou(const forest_t *forest, const component_t *c, int32_t pad,
                       const double *gt, const uint8_t *gt_valid, int32_t num_gt) {
    int32_t x2 = min32(c->x_max + pad + 1, forest->width - 1);
    int32_t y2 = min32(c->y_max + pad + 1, forest->height - 1);
    double b1 = c->x_min - pad, b2 = c->first / forest->stride - 1 - pad, b3 = x2, b4 = y2;
    double area = (b3 - b1 + 1) * (b4 - b2 + 1), best = -1.0;
    for (int32_t g = 0; g < num_gt; ++g) {
        if (!gt_valid[g]) continue;
        const double *u = gt + 4 * g;
        double iw = (b3 < u[2] ? b3 : u[2]) - (b1 > u[0] ? b1 : u[0]) + 1;
        double ih = (b4 < u[3] ? b4 : u[3]) - (b2 > u[1] ? b2 : u[1]) + 1;
        double intersection = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
        double union_ = area + (u[2] - u[0] + 1) * (u[3] - u[1] + 1) - intersection;
        double iou = union_ > 0 ? intersection / union_ : 0.0;
        if (iou > best) best = iou;
    }
    return best;
}

/* Best IoU over every contour at every level: outer contours (components of {q > l}, levels
   from the top), then holes (components of {q <= l} off the border, levels from the bottom).
   A hole's pixels are raised by hole filling, and a component of raised pixels is a hole at
   level l exactly when all its filled values exceed l, so only raised pixels are switched
   on. values, filled and raised are padded. */
static void every_contour_iou(forest_t *forest, const int32_t *values, const int32_t *filled,
                              uint8_t *raised, const int64_t *levels, int32_t num_levels,
                              const double *gt, const uint8_t *gt_valid, int32_t num_gt,
                              int32_t *order, double *out) {
    int32_t bin[CX_VALUES], until[CX_VALUES], next = 0;
    level_bins(levels, num_levels, bin);
    sort_by_bin(forest, values, bin, num_levels, 1, NULL, order, until);
    forest_reset(forest);
    for (int32_t j = num_levels - 1; j >= 0; --j) {
        while (next < until[j]) switch_on(forest, order[next++], 8, 0, 0);
        out[j] = -1.0;
        for (int32_t i = 0; i < forest->num_live; ++i) {
            double iou = best_iou(forest, forest->component + forest->live[i], 0, gt, gt_valid,
                                  num_gt);
            if (iou > out[j]) out[j] = iou;
        }
    }
    size_t padded = (size_t)(forest->height + 2) * forest->stride;
    for (size_t p = 0; p < padded; ++p) raised[p] = filled[p] > values[p];
    sort_by_bin(forest, values, bin, num_levels, 0, raised, order, until);
    next = 0;
    forest_reset(forest);
    for (int32_t j = 0; j < num_levels; ++j) {
        while (next < until[j]) {
            int32_t pixel = order[next++];
            switch_on(forest, pixel, 4, filled[pixel], 0);
        }
        for (int32_t i = 0; i < forest->num_live; ++i) {
            const component_t *c = forest->component + forest->live[i];
            if (c->reach <= levels[j]) continue; /* joins the border at this level */
            double iou = best_iou(forest, c, 1, gt, gt_valid, num_gt);
            if (iou > out[j]) out[j] = iou;
        }
    }
}

/*
 * Hole filling of a batch: values (num_maps, height, width) int32 in [0, 255]; filled
 * (num_maps, height + 2, width + 2): each map's minimax value of the 4-connected paths to the
 * border, in a frame of -1 (the layout cx_box_protocol takes). Returns 0, or -1 when memory
 * ran out.
 */
int cx_fill_holes(const int32_t *values, int32_t num_maps, int32_t height, int32_t width,
                  int32_t *filled) {
    size_t pixels = (size_t)height * width, padded = (size_t)(height + 2) * (width + 2);
    int32_t *map = malloc(sizeof(int32_t) * padded), *nodes = malloc(sizeof(int32_t) * 4 * pixels);
    int ok = map != NULL && nodes != NULL;
    for (int32_t m = 0; ok && m < num_maps; ++m) {
        pad_map(values + m * pixels, height, width, map);
        fill_holes(map, height, width, filled + m * padded, nodes);
    }
    free(map);
    free(nodes);
    return ok ? 0 : -1;
}

/*
 * values: (num_maps, height, width) int32 in [0, 255]; filled: cx_fill_holes(values);
 * levels: (num_levels,) increasing, in [0, 255].
 * boxes (or NULL): (num_maps, num_levels, 4) pixel extents (x_min, y_min, x_max, y_max) of
 * the largest outer contour, zeros at a level with no pixel above it.
 * ious (or NULL): (num_maps, num_levels) best IoU over every contour with the map's boxes
 * gt (num_maps, num_gt, 4) where gt_valid (num_maps, num_gt) is set; -1 with no contour.
 * Returns 0, or -1 when memory ran out.
 */
int cx_box_protocol(const int32_t *values, const int32_t *filled, int32_t num_maps,
                    int32_t height, int32_t width, const int64_t *levels, int32_t num_levels,
                    int32_t *boxes, const double *gt, const uint8_t *gt_valid, int32_t num_gt,
                    double *ious) {
    size_t pixels = (size_t)height * width, padded = (size_t)(height + 2) * (width + 2);
    forest_t forest;
    struct ring_tables tables;
    ring_tables_init(&tables);
    int ok = forest_alloc(&forest, height, width, &tables);
    int32_t *map = malloc(sizeof(int32_t) * padded), *order = malloc(sizeof(int32_t) * pixels);
    uint8_t *raised = malloc(padded);
    ok = ok && map != NULL && order != NULL && raised != NULL;
    for (int32_t m = 0; ok && m < num_maps; ++m) {
        const int32_t *map_filled = filled + m * padded;
        if (boxes != NULL)
            largest_boxes(&forest, map_filled, levels, num_levels, order,
                          boxes + (size_t)m * num_levels * 4);
        if (ious != NULL) {
            pad_map(values + m * pixels, height, width, map);
            every_contour_iou(&forest, map, map_filled, raised, levels, num_levels,
                              gt + (size_t)m * num_gt * 4, gt_valid + (size_t)m * num_gt, num_gt,
                              order, ious + (size_t)m * num_levels);
        }
    }
    forest_free(&forest);
    free(map);
    free(order);
    free(raised);
    return ok ? 0 : -1;
}
