#version 450
// LayerNorm over the last dim of a [rows, C] token matrix, optionally gathering the rows out of TinyViT windows: y = act((x - mean) / sqrt(var + eps) * gamma + beta).
// One invocation per row, two passes (mean, then the sum of squared deviations) so a large common offset
// (e.g. 1000 + noise) does not cancel the variance away as E[x²] - E[x]² would. Both passes work on x - K with
// K = the row's first value: x - K is exact for nearby values, and the mean is kept as K + m with m small, because
// a mean near 1000 rounded to fp32 is already off by up to 3e-5, a visible shift when the spread is ~0.01.
// Rows stay in the CPU's cache between passes; on llvmpipe a row-per-lane loop beats a workgroup reduction, whose barriers are coroutine switches.
// When C % 4 == 0 rows are read as vec4 (a per-lane load costs the same at any width there).
#include "common.glsl"

layout(local_size_x_id = 0) in;

#ifdef FP16
#define STORE_V4 f16vec4
#else
#define STORE_V4 vec4
#endif

#ifdef TEXEL
// C % 4 == 0 only (LayerNorm.cs): x, gamma and beta as four-wide uniform texel buffers, since a storage load is a
// per-lane scalar loop on llvmpipe and a texel fetch one gather.
layout(binding = 0) uniform samplerBuffer xt;
layout(binding = 1) uniform samplerBuffer gammat;
layout(binding = 2) uniform samplerBuffer betat;
#define X4(i) texelFetch(xt, int(i))
#define GAMMA4(i) texelFetch(gammat, int(i))
#define BETA4(i) texelFetch(betat, int(i))
#else
layout(std430, binding = 0) readonly buffer BufX { STORE_T x[]; };
layout(std430, binding = 0) readonly buffer BufX4 { STORE_V4 x4[]; };
layout(std430, binding = 1) readonly buffer BufG { STORE_T gamma[]; };
layout(std430, binding = 1) readonly buffer BufG4 { STORE_V4 gamma4[]; };
layout(std430, binding = 2) readonly buffer BufB { STORE_T beta[]; };
layout(std430, binding = 2) readonly buffer BufB4 { STORE_V4 beta4[]; };
#define X4(i) vec4(x4[i])
#define GAMMA4(i) vec4(gamma4[i])
#define BETA4(i) vec4(beta4[i])
#endif
layout(std430, binding = 3) writeonly buffer BufY { STORE_T y[]; };
layout(std430, binding = 3) writeonly buffer BufY4 { STORE_V4 y4[]; };

layout(push_constant) uniform P {
    uint rows;
    uint C;
    float eps;
    int H, W, ws;   // ws > 0: output row r is a window-partitioned row, read from token window_row(r) of an [H, W] map
    int act;        // activation applied to the normalised value (ACT_* in common.glsl)
    int transposed; // 1: write [C, rows] (the encoder's last norm writing the NCHW embedding), not [rows, C]
} p;

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint row = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (row >= p.rows) return;
    float invC = 1.0 / float(p.C);
    uint src = row;
    if (p.ws > 0)
    {
        // A padding row is all zeros, and LayerNorm of zeros is exactly beta.
        int t = window_row(int(row), p.H, p.W, p.ws);
        if (t < 0)
        {
#ifdef TEXEL
            for (uint j = 0u; j < p.C >> 2; j++) y4[row * (p.C >> 2) + j] = STORE_V4(BETA4(j));
#else
            for (uint j = 0u; j < p.C; j++) y[row * p.C + j] = beta[j];
#endif
            return;
        }
        src = uint(t);
    }

    if ((p.C & 3u) == 0u)
    {
        uint c4 = p.C >> 2;
        uint base = src * c4, out4 = row * c4;
        float K = X4(base).x;
        vec4 s = vec4(0.0);
        for (uint j = 0u; j < c4; j++) s += X4(base + j) - K;
        float m = (s.x + s.y + s.z + s.w) * invC;
        vec4 q = vec4(0.0);
        for (uint j = 0u; j < c4; j++) { vec4 d = (X4(base + j) - K) - m; q = fma(d, d, q); }
        float rstd = inversesqrt((q.x + q.y + q.z + q.w) * invC + p.eps);
        for (uint j = 0u; j < c4; j++)
        {
            vec4 v = ((X4(base + j) - K) - m) * rstd * GAMMA4(j) + BETA4(j);
            if (p.act != 0) v = vec4(activate(v.x, p.act), activate(v.y, p.act), activate(v.z, p.act), activate(v.w, p.act));
            if (p.transposed != 0)
                for (uint e = 0u; e < 4u; e++) y[(4u * j + e) * p.rows + row] = ST(v[e]);
            else
                y4[out4 + j] = STORE_V4(v);
        }
        return;
    }

#ifndef TEXEL
    uint base = src * p.C, outBase = row * p.C;
    float K = LD(x[base]);
    float s = 0.0;
    for (uint j = 0u; j < p.C; j++) s += LD(x[base + j]) - K;
    float m = s * invC;
    float q = 0.0;
    for (uint j = 0u; j < p.C; j++) { float d = (LD(x[base + j]) - K) - m; q = fma(d, d, q); }
    float rstd = inversesqrt(q * invC + p.eps);
    for (uint j = 0u; j < p.C; j++)
        y[p.transposed != 0 ? j * p.rows + row : outBase + j] =
            ST(activate(((LD(x[base + j]) - K) - m) * rstd * LD(gamma[j]) + LD(beta[j]), p.act));
#endif
}
