#version 450
// Per-mask statistics of logit planes for the automatic mask generator: the pixel counts above +offset, above
// -offset (their ratio is SAM's stability score) and above 0 (the area), and the bounding box of the pixels above 0.
// One invocation per row of the plane's valid region, so no invocation loops more than a row (lavapipe stops an
// invocation after 65535 iterations); rows with nothing above -offset touch no memory, the others fold their counts
// into the plane's slot with atomics. Minimums are kept as maximums of (BIAS - x) so that a zero-filled slot means
// "empty" for every field.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Logits { STORE_T logits[]; };
layout(std430, binding = 1) buffer Stats { int stats[]; };   // [planes, 8], zero-filled before the dispatch

layout(push_constant) uniform P {
    int height, width;        // valid region (top-left of each plane)
    int rowStride, planeStride;
    int group, groupStride, groupOffset;   // plane i reads source plane (i / group) * groupStride + groupOffset + i % group
    float hi, lo;             // mask threshold + / - the stability offset
} p;

const int BIAS = 1 << 20;

void main()
{
    int y = int(gl_GlobalInvocationID.x);
    int i = int(gl_WorkGroupID.y);
    if (y >= p.height) return;
    int src = (i / p.group) * p.groupStride + p.groupOffset + i % p.group;
    int base = src * p.planeStride + y * p.rowStride;
    int nHi = 0, nLo = 0, nPos = 0, x0 = BIAS, x1 = -1;
    for (int x = 0; x < p.width; x++)
    {
        float v = LD(logits[base + x]);
        if (v > p.lo) nLo++;
        if (v > p.hi) nHi++;
        if (v > 0.0)
        {
            nPos++;
            x0 = min(x0, x);
            x1 = x;
        }
    }
    if (nLo == 0) return;
    int s = i * 8;
    atomicAdd(stats[s + 0], nHi);
    atomicAdd(stats[s + 1], nLo);
    if (nPos == 0) return;
    atomicAdd(stats[s + 2], nPos);
    atomicMax(stats[s + 3], BIAS - x0);
    atomicMax(stats[s + 4], BIAS - y);
    atomicMax(stats[s + 5], x1 + 1);
    atomicMax(stats[s + 6], y + 1);
}
