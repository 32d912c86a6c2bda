#version 450
// Gathers chosen logits rows (fp32, written by mask_select) into a decoder's dense-prompt batch in the storage type:
// a tracked object's last mask becomes its next prompt without leaving the GPU.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Chosen { float chosen[]; };   // [rows, plane]
layout(std430, binding = 1) readonly buffer Rows { int rows[]; };         // [batch]: source row of each entry
layout(std430, binding = 2) writeonly buffer Dense { STORE_T dense[]; };  // [batch, plane]

layout(push_constant) uniform P { int plane; } p;

void main()
{
    int b = int(gl_GlobalInvocationID.y);
    uint x = gl_GlobalInvocationID.x;
    if (x < uint(p.plane)) dense[b * p.plane + int(x)] = ST(chosen[rows[b] * p.plane + int(x)]);
}
