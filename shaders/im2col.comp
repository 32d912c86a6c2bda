#version 450
// Unfolds an NCHW input for convolution as GEMM: col[b][(ci*KH + ky)*KW + kx][oy*OW + ox] = x[b][ci][oy*S-P+ky][ox*S-P+kx]
// (zero outside the image). Dense convs then run on the texel GEMM, which is ~6x faster on llvmpipe than the direct
// conv kernel (see Conv2d.cs). Convs whose K rules out the texel GEMM skip this buffer: gemm.comp reads their input
// unfolded (CONVK).
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_T col[]; };

layout(push_constant) uniform P {
    uint total;            // batch * K * N
    int cin, h, w, kh, kw, stride, pad, oh, ow;
} p;

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint i = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= p.total) return;
    int n = p.oh * p.ow;
    int k = p.cin * p.kh * p.kw;
    int pix = int(i % uint(n));
    int row = int((i / uint(n)) % uint(k));
    int b = int(i / uint(n * k));
    int kx = row % p.kw;
    int ky = (row / p.kw) % p.kh;
    int ci = row / (p.kw * p.kh);
    int oy = pix / p.ow, ox = pix % p.ow;
    int iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
    float v = 0.0;
    if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
        v = LD(x[((b * p.cin + ci) * p.h + iy) * p.w + ix]);
    col[i] = ST(v);
}
