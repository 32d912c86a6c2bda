#version 450
// Per tracking candidate (a row of chosen logits and the object whose memory judges it): over the 64x64 embedding
// cells the mask covers (4x4 logits positive on average, as object_stats), how many, how many whose appearance
// readout favours the object's foreground memory, the readout's sum, how many lie on the image's border (a mask that
// touches the frame edge is clipped, so its size and appearance are judged knowing it) and the sum of the cells'
// likeness (cosine to the foreground memory alone). One workgroup each.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Chosen { float chosen[]; };      // [rows, 256, 256]
layout(std430, binding = 1) readonly buffer Readout { float readout[]; };    // [objects, 4096]
layout(std430, binding = 2) readonly buffer Cands { int cands[]; };          // [candidates, 2]: row, object
layout(std430, binding = 3) writeonly buffer Scores { float scores[]; };     // [candidates, 5]
layout(std430, binding = 4) readonly buffer Likeness { float likeness[]; };  // [objects, 4096]

layout(push_constant) uniform P {
    int validW, validH;   // embedding cells that hold image, not padding
} p;

const int LOW = 256, SIDE = 64, CELLS = SIDE * SIDE, MAXWG = 64;

shared int sCells, sFg, sEdge;
shared float part[MAXWG], partLike[MAXWG];

void main()
{
    int c = int(gl_WorkGroupID.x);
    int lid = int(gl_LocalInvocationID.x), wg = int(gl_WorkGroupSize.x);
    int base = cands[c * 2] * LOW * LOW, o = cands[c * 2 + 1];
    if (lid == 0) { sCells = 0; sFg = 0; sEdge = 0; }
    barrier();
    int cells = 0, fg = 0, edge = 0;
    float sum = 0.0, like = 0.0;
    for (int i = lid; i < CELLS; i += wg)
    {
        int cy = i >> 6, cx = i & 63;
        if (cx >= p.validW || cy >= p.validH) continue;
        float m = 0.0;
        for (int dy = 0; dy < 4; dy++)
            for (int dx = 0; dx < 4; dx++) m += chosen[base + (cy * 4 + dy) * LOW + cx * 4 + dx];
        if (m <= 0.0) continue;
        float r = readout[o * CELLS + i];
        cells++;
        if (r > 0.0) fg++;
        if (cx == 0 || cy == 0 || cx == p.validW - 1 || cy == p.validH - 1) edge++;
        sum += r;
        like += likeness[o * CELLS + i];
    }
    atomicAdd(sCells, cells); atomicAdd(sFg, fg); atomicAdd(sEdge, edge);
    part[lid] = sum;
    partLike[lid] = like;
    barrier();
    if (lid == 0)
    {
        float s = 0.0, l = 0.0;
        for (int i = 0; i < wg; i++) { s += part[i]; l += partLike[i]; }
        scores[c * 5] = float(sCells);
        scores[c * 5 + 1] = float(sFg);
        scores[c * 5 + 2] = s;
        scores[c * 5 + 3] = float(sEdge);
        scores[c * 5 + 4] = l;
    }
}
