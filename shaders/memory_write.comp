#version 450
// Appearance memory writes (Tracking/AppearanceMemory): one workgroup per write copies the L2-normalised embedding
// columns ("keys") of a set of 64x64 cells chosen from one object's chosen 256x256 logits into one block of that
// object's memory. The set: the mask's cells (foreground), every valid cell outside the mask (background of a prompted
// frame), or the cells outside the mask within its cell box dilated by a margin (a background ring). A block holds at
// most CAP keys; a larger set is subsampled evenly in raster order, so the result does not depend on scheduling.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Chosen { float chosen[]; };      // [rows, 256, 256]
layout(std430, binding = 1) readonly buffer Embedding { STORE_T emb[]; };    // [256, 64, 64]
layout(std430, binding = 2) readonly buffer Writes { int writes[]; };        // [writes, 4]: row, object, block, mode
layout(std430, binding = 3) buffer Keys { STORE_T keys[]; };                 // [objects, blocks * cap, 256]
layout(std430, binding = 4) buffer Counts { int counts[]; };                 // [objects, blocks]

layout(push_constant) uniform P {
    int cap, blocks;      // keys per block, blocks per object
    int validW, validH;   // embedding cells that hold image, not padding
    float ring;           // ring margin as a fraction of the mask's larger cell-box side (at least 1 cell)
} p;

const int LOW = 256, SIDE = 64, CELLS = SIDE * SIDE, CH = 256, MAXWG = 64;
const int FG = 0, BG_ALL = 1, BG_RING = 2, CLEAR = 3;

shared int part[MAXWG];
shared int bx0, by0, bx1, by1, sTotal;

bool inMask(int base, int c)
{
    int cy = c >> 6, cx = c & 63;
    float m = 0.0;
    for (int dy = 0; dy < 4; dy++)
        for (int dx = 0; dx < 4; dx++) m += chosen[base + (cy * 4 + dy) * LOW + cx * 4 + dx];
    return m > 0.0;
}

bool selected(int base, int mode, int c, int margin)
{
    int cy = c >> 6, cx = c & 63;
    if (cx >= p.validW || cy >= p.validH) return false;
    bool m = inMask(base, c);
    if (mode == FG) return m;
    if (m) return false;
    if (mode == BG_ALL) return true;
    return bx1 >= 0 && cx >= bx0 - margin && cx <= bx1 + margin && cy >= by0 - margin && cy <= by1 + margin;
}

void main()
{
    int w = int(gl_WorkGroupID.x);
    int lid = int(gl_LocalInvocationID.x), wg = int(gl_WorkGroupSize.x);
    int row = writes[w * 4], o = writes[w * 4 + 1], block = writes[w * 4 + 2], mode = writes[w * 4 + 3];
    if (mode == CLEAR) { if (lid == 0) counts[o * p.blocks + block] = 0; return; }
    int base = row * LOW * LOW;
    int chunk = (CELLS + wg - 1) / wg, c0 = lid * chunk, c1 = min(CELLS, c0 + chunk);

    // The mask's cell box, for the ring.
    if (lid == 0) { bx0 = SIDE; by0 = SIDE; bx1 = -1; by1 = -1; }
    barrier();
    if (mode == BG_RING)
    {
        int x0 = SIDE, y0 = SIDE, x1 = -1, y1 = -1;
        for (int c = c0; c < c1; c++)
        {
            int cy = c >> 6, cx = c & 63;
            if (cx < p.validW && cy < p.validH && inMask(base, c)) { x0 = min(x0, cx); x1 = max(x1, cx); y0 = min(y0, cy); y1 = max(y1, cy); }
        }
        atomicMin(bx0, x0); atomicMin(by0, y0); atomicMax(bx1, x1); atomicMax(by1, y1);
    }
    barrier();
    int margin = max(1, int(p.ring * float(max(bx1 - bx0 + 1, by1 - by0 + 1))));

    int n = 0;
    for (int c = c0; c < c1; c++) if (selected(base, mode, c, margin)) n++;
    part[lid] = n;
    barrier();
    if (lid == 0)
    {
        int sum = 0;
        for (int i = 0; i < wg; i++) { int v = part[i]; part[i] = sum; sum += v; }
        counts[o * p.blocks + block] = min(sum, p.cap);
        sTotal = sum;
    }
    barrier();
    int total = sTotal;
    int j = part[lid];
    int first = (o * p.blocks + block) * p.cap;
    for (int c = c0; c < c1; c++)
    {
        if (!selected(base, mode, c, margin)) continue;
        // Evenly subsampled: the first of the selected cells mapping to each slot.
        int slot = total <= p.cap ? j : (j * p.cap) / total;
        bool keep = total <= p.cap || j == 0 || slot != ((j - 1) * p.cap) / total;
        j++;
        if (!keep) continue;
        float ss = 0.0;
        for (int ch = 0; ch < CH; ch++) { float v = LD(emb[ch * CELLS + c]); ss += v * v; }
        float inv = ss > 0.0 ? inversesqrt(ss) : 0.0;
        for (int ch = 0; ch < CH; ch++) keys[(first + slot) * CH + ch] = ST(LD(emb[ch * CELLS + c]) * inv);
    }
}
