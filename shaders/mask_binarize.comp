#version 450
// Thresholds logit planes at 0 into 8-bit masks (0/255), four pixels per uint in memory order, each plane starting
// on a whole uint, so a mask reads back at a quarter of the bytes of its logits.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Logits { STORE_T logits[]; };   // [planes, pixels]
layout(std430, binding = 1) writeonly buffer Out { uint packed[]; };        // [planes, ceil(pixels / 4)]

layout(push_constant) uniform P { int pixels, words; } p;

void main()
{
    int word = int(gl_GlobalInvocationID.x);
    int plane = int(gl_GlobalInvocationID.y);
    if (word >= p.words) return;
    uint result = 0u;
    for (int k = 0; k < 4; k++)
    {
        int i = word * 4 + k;
        if (i < p.pixels && LD(logits[plane * p.pixels + i]) > 0.0) result |= 0xffu << (8 * k);
    }
    packed[plane * p.words + word] = result;
}
