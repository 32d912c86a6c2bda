#version 450
// Per tracked object, from its chosen 256x256 logits: the bounding box and count of positive low-res cells inside the
// resized image, and its appearance — the mean image embedding over the 64x64 embedding cells whose 4x4 logits are
// positive on average (what a tracker compares to tell the object from whatever else now fills its box). About 1 KB
// per object: the only thing the CPU reads to make tracking decisions. One workgroup per object.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Chosen { float chosen[]; };      // [objects, 256, 256]
layout(std430, binding = 1) readonly buffer Embedding { STORE_T emb[]; };    // [256, 64, 64]
layout(std430, binding = 2) writeonly buffer Stats { float stats[]; };       // [objects, 8 + 256]

layout(push_constant) uniform P {
    int validW, validH;   // low-res cells that hold image, not padding
} p;

const int LOW = 256, SIDE = 64, CH = 256, STRIDE = 8 + CH;

shared int sx0, sy0, sx1, sy1, sArea, sCells;
shared uint cellBits[SIDE * SIDE / 32];

void main()
{
    int o = int(gl_WorkGroupID.x);
    int lid = int(gl_LocalInvocationID.x), wg = int(gl_WorkGroupSize.x);
    if (lid == 0) { sx0 = LOW; sy0 = LOW; sx1 = -1; sy1 = -1; sArea = 0; sCells = 0; }
    for (int i = lid; i < SIDE * SIDE / 32; i += wg) cellBits[i] = 0u;
    barrier();

    int base = o * LOW * LOW;
    int x0 = LOW, y0 = LOW, x1 = -1, y1 = -1, area = 0;
    for (int i = lid; i < LOW * LOW; i += wg)
    {
        int y = i >> 8, x = i & 255;
        if (y < p.validH && x < p.validW && chosen[base + i] > 0.0)
        {
            x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y);
            area++;
        }
    }
    int cells = 0;
    for (int c = lid; c < SIDE * SIDE; c += wg)
    {
        int cy = c >> 6, cx = c & 63;
        float m = 0.0;
        for (int dy = 0; dy < 4; dy++)
            for (int dx = 0; dx < 4; dx++) m += chosen[base + (cy * 4 + dy) * LOW + cx * 4 + dx];
        if (m > 0.0) { atomicOr(cellBits[c >> 5], 1u << (c & 31)); cells++; }
    }
    atomicMin(sx0, x0); atomicMin(sy0, y0); atomicMax(sx1, x1); atomicMax(sy1, y1);
    atomicAdd(sArea, area);
    atomicAdd(sCells, cells);
    barrier();

    float inv = sCells > 0 ? 1.0 / float(sCells) : 0.0;
    for (int ch = lid; ch < CH; ch += wg)
    {
        float s = 0.0;
        for (int c = 0; c < SIDE * SIDE; c++)
            if (((cellBits[c >> 5] >> (c & 31)) & 1u) != 0u) s += LD(emb[ch * SIDE * SIDE + c]);
        stats[o * STRIDE + 8 + ch] = s * inv;
    }
    if (lid == 0)
    {
        bool empty = sx1 < 0;
        stats[o * STRIDE + 0] = empty ? -1.0 : float(sx0);
        stats[o * STRIDE + 1] = empty ? -1.0 : float(sy0);
        stats[o * STRIDE + 2] = empty ? -1.0 : float(sx1);
        stats[o * STRIDE + 3] = empty ? -1.0 : float(sy1);
        stats[o * STRIDE + 4] = float(sArea);
        stats[o * STRIDE + 5] = float(sCells);
        stats[o * STRIDE + 6] = 0.0;
        stats[o * STRIDE + 7] = 0.0;
    }
}
