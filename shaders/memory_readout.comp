#version 450
// Appearance memory readout (Tracking/AppearanceMemory), after a GEMM gave every memory key's dot product with every
// embedding cell: per object and cell, the mean of the K best cosine similarities among the object's foreground keys
// minus the same among its background keys (XMem's top-k readout, reduced to "which memory does this cell look like").
// Positive: the cell looks like the object. Keys are unit vectors, so dividing by the cell's own norm gives cosines.
// The foreground mean alone is kept too ("likeness"): the difference only says a cell looks more like the object than
// like the background the memory has seen, which anything new in the scene may do; the absolute cosine says how much it
// looks like the object itself.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Sims { STORE_T sims[]; };        // [objects, blocks * cap, 4096]
layout(std430, binding = 1) readonly buffer Embedding { STORE_T emb[]; };    // [256, 64, 64]
layout(std430, binding = 2) readonly buffer Counts { int counts[]; };        // [objects, blocks]
layout(std430, binding = 3) writeonly buffer Readout { float readout[]; };   // [objects, 4096]
layout(std430, binding = 4) writeonly buffer Likeness { float likeness[]; }; // [objects, 4096]

layout(push_constant) uniform P {
    int cap, fgBlocks, bgBlocks, k;   // blocks 0..fgBlocks-1 are foreground, the next bgBlocks background
} p;

const int CELLS = 4096, CH = 256, MAXK = 32;

// Mean of the k largest similarities of the valid keys in blocks [b0, b1).
float topMean(int o, int cell, int b0, int b1)
{
    float best[MAXK];
    int k = min(p.k, MAXK), n = 0;
    int blocks = p.fgBlocks + p.bgBlocks;
    for (int b = b0; b < b1; b++)
    {
        int count = counts[o * blocks + b];
        int first = (o * blocks + b) * p.cap;
        for (int s = 0; s < count; s++)
        {
            float v = LD(sims[(first + s) * CELLS + cell]);
            if (n == k && v <= best[k - 1]) continue;
            int i = n < k ? n++ : k - 1;
            while (i > 0 && best[i - 1] < v) { best[i] = best[i - 1]; i--; }
            best[i] = v;
        }
    }
    float sum = 0.0;
    for (int i = 0; i < n; i++) sum += best[i];
    return n > 0 ? sum / float(n) : 0.0;
}

void main()
{
    int cell = int(gl_GlobalInvocationID.x), o = int(gl_WorkGroupID.y);
    if (cell >= CELLS) return;
    float ss = 0.0;
    for (int ch = 0; ch < CH; ch++) { float v = LD(emb[ch * CELLS + cell]); ss += v * v; }
    float inv = ss > 0.0 ? inversesqrt(ss) : 0.0;
    float fg = topMean(o, cell, 0, p.fgBlocks), bg = topMean(o, cell, p.fgBlocks, p.fgBlocks + p.bgBlocks);
    readout[o * CELLS + cell] = (fg - bg) * inv;
    likeness[o * CELLS + cell] = fg * inv;
}
