#version 450
// Batched 2-D transpose [batch, rows, cols] -> [batch, cols, rows] (NCHW <-> NHWC / token layouts).
// Each invocation moves a 4x4 block: 4 vec4 row loads, 4 vec4 column stores when rows and cols are multiples of 4,
// element by element otherwise. No shared-memory tile: on llvmpipe its barriers cost more than they save (DESIGN.md).
// Pure data movement: results are bit-exact.
#include "common.glsl"

layout(local_size_x_id = 0) in;

#ifdef FP16
#define STORE_V4 f16vec4
#else
#define STORE_V4 vec4
#endif

layout(std430, binding = 0) readonly buffer BufI { STORE_T src[]; };
layout(std430, binding = 0) readonly buffer BufI4 { STORE_V4 src4[]; };
layout(std430, binding = 1) writeonly buffer BufO { STORE_T dst[]; };
layout(std430, binding = 1) writeonly buffer BufO4 { STORE_V4 dst4[]; };

layout(push_constant) uniform P {
    uint batch, rows, cols;
} p;

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint g = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint rb = (p.rows + 3u) >> 2, cb = (p.cols + 3u) >> 2;
    if (g >= p.batch * rb * cb) return;
    uint b = g / (rb * cb), r = g - b * rb * cb;
    uint r0 = (r / cb) * 4u, c0 = (r % cb) * 4u;
    uint plane = b * p.rows * p.cols;

    if (((p.rows | p.cols) & 3u) == 0u)
    {
        STORE_V4 m0 = src4[(plane + (r0 + 0u) * p.cols + c0) >> 2];
        STORE_V4 m1 = src4[(plane + (r0 + 1u) * p.cols + c0) >> 2];
        STORE_V4 m2 = src4[(plane + (r0 + 2u) * p.cols + c0) >> 2];
        STORE_V4 m3 = src4[(plane + (r0 + 3u) * p.cols + c0) >> 2];
        dst4[(plane + (c0 + 0u) * p.rows + r0) >> 2] = STORE_V4(m0.x, m1.x, m2.x, m3.x);
        dst4[(plane + (c0 + 1u) * p.rows + r0) >> 2] = STORE_V4(m0.y, m1.y, m2.y, m3.y);
        dst4[(plane + (c0 + 2u) * p.rows + r0) >> 2] = STORE_V4(m0.z, m1.z, m2.z, m3.z);
        dst4[(plane + (c0 + 3u) * p.rows + r0) >> 2] = STORE_V4(m0.w, m1.w, m2.w, m3.w);
        return;
    }
    uint rEnd = min(r0 + 4u, p.rows), cEnd = min(c0 + 4u, p.cols);
    for (uint i = r0; i < rEnd; i++)
        for (uint j = c0; j < cEnd; j++)
            dst[plane + j * p.rows + i] = src[plane + i * p.cols + j];
}
