#version 450
// Numerically stable softmax over the last dimension of a row-major [rows, cols] tensor.
// LANES invocations share a row (LANES = 1 for short rows: no shared memory, no barriers at all, which is what
// llvmpipe likes; longer rows split their columns across lanes so one long row is not one lane's serial loop).
// Pass 1 keeps an online (max, sum) pair per lane, one exp per element; the pairs are merged in a tree in shared
// memory; pass 2 writes exp(x - max) / sum. Row count and lane split are chosen by Softmax.cs from device limits.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int LANES = 1;   // power of two dividing the workgroup size

layout(std430, binding = 0) readonly buffer BufX { STORE_T x[]; };
layout(std430, binding = 1) writeonly buffer BufY { STORE_T y[]; };

layout(push_constant) uniform P {
    int rows, cols;
} p;

shared float sm[gl_WorkGroupSize.x];
shared float sl[gl_WorkGroupSize.x];

void main()
{
    const int lid = int(gl_LocalInvocationID.x);
    const int lane = lid % LANES;
    const int rowsPerGroup = int(gl_WorkGroupSize.x) / LANES;
    const int row = int(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * rowsPerGroup + lid / LANES;
    // Lanes past the last row work on the last row (uniform control flow for the barriers) but store nothing.
    const int base = min(row, p.rows - 1) * p.cols;

    float m = -3.0e38;
    float l = 0.0;
    for (int c = lane; c < p.cols; c += LANES)
    {
        float v = LD(x[base + c]);
        // One exp per element: exp(-|v - m|) is the factor for whichever of the sum or the new element is smaller.
        float e = exp(-abs(v - m));
        if (v > m) { l = l * e + 1.0; m = v; }
        else l += e;
    }

    if (LANES > 1)
    {
        sm[lid] = m;
        sl[lid] = l;
        for (int s = LANES / 2; s > 0; s >>= 1)
        {
            barrier();
            if (lane < s)
            {
                float m2 = sm[lid + s], l2 = sl[lid + s];
                float mn = max(m, m2);
                l = l * exp(m - mn) + l2 * exp(m2 - mn);
                m = mn;
                sm[lid] = m;
                sl[lid] = l;
            }
        }
        barrier();
        m = sm[lid - lane];
        l = sl[lid - lane];
    }

    if (row >= p.rows) return;
    float inv = 1.0 / l;
    for (int c = lane; c < p.cols; c += LANES)
        y[base + c] = ST(exp(LD(x[base + c]) - m) * inv);
}
