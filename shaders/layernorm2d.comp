#version 450
// SAM's LayerNorm2d on NCHW: for each (n, y, x) normalise over C, then gamma/beta per channel and an optional
// activation (GELU in the mask decoder's upscaling). Each invocation owns 4 neighbouring pixels and walks the
// channels with stride HW, so one vec4 load serves 4 pixels (llvmpipe scalarises per-lane loads, DESIGN.md);
// gamma/beta loads are uniform across lanes. Statistics are never E[x²] - E[x]²: all sums are of x - K with
// K = the pixel's channel-0 value (a large common offset costs no precision, see layernorm.comp), and the main path
// reads the channels once for mean/variance (exact two-pass per register chunk, chunks merged pairwise) and once to
// write: with a channel stride of HW the reads miss cache, so one read fewer was measurably faster than three passes.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
const uint CH = 16u;

#ifdef FP16
#define STORE_V4 f16vec4
#else
#define STORE_V4 vec4
#endif

layout(std430, binding = 0) readonly buffer BufX { STORE_T x[]; };
layout(std430, binding = 0) readonly buffer BufX4 { STORE_V4 x4[]; };
layout(std430, binding = 1) readonly buffer BufG { STORE_T gamma[]; };
layout(std430, binding = 2) readonly buffer BufB { STORE_T beta[]; };
layout(std430, binding = 3) writeonly buffer BufY { STORE_T y[]; };
layout(std430, binding = 3) writeonly buffer BufY4 { STORE_V4 y4[]; };

layout(push_constant) uniform P {
    uint batch;
    uint C;
    uint hw;
    float eps;
    int act;
} p;

vec4 act4(vec4 v, int act)
{
    return vec4(activate(v.x, act), activate(v.y, act), activate(v.z, act), activate(v.w, act));
}

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint g = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint quads = (p.hw + 3u) >> 2;
    if (g >= p.batch * quads) return;
    uint n = g / quads;
    uint p0 = (g - n * quads) * 4u;
    uint plane = n * p.C * p.hw;
    float invC = 1.0 / float(p.C);

    if ((p.hw & 3u) == 0u)
    {
        uint base4 = (plane + p0) >> 2;
        uint step4 = p.hw >> 2;
        // Statistics in one read: chunks of CH channels are held in registers, each chunk's mean and squared
        // deviations are exact two-pass values, and chunks are merged with Chan et al.'s pairwise update (stable).
        // Everything is relative to K = channel 0 (as in layernorm.comp) so a large common offset costs no precision.
        vec4 K = vec4(x4[base4]);
        vec4 mean = vec4(0.0), m2 = vec4(0.0);
        float seen = 0.0;
        for (uint c0 = 0u; c0 < p.C; c0 += CH)
        {
            uint cnt = min(CH, p.C - c0);
            vec4 v[CH];
            vec4 s = vec4(0.0);
            [[unroll]] for (uint k = 0u; k < CH; k++)
            {
                // Clamped index: a past-the-end channel is loaded (never out of bounds) but not counted.
                vec4 xv = vec4(x4[base4 + min(c0 + k, p.C - 1u) * step4]) - K;
                v[k] = k < cnt ? xv : vec4(0.0);
                s += v[k];
            }
            float nb = float(cnt);
            vec4 mb = s / nb;
            vec4 qb = vec4(0.0);
            [[unroll]] for (uint k = 0u; k < CH; k++)
                if (k < cnt) { vec4 d = v[k] - mb; qb = fma(d, d, qb); }
            float nt = seen + nb;
            vec4 delta = mb - mean;
            mean += delta * (nb / nt);
            m2 += qb + delta * delta * (seen * nb / nt);
            seen = nt;
        }
        vec4 rstd = inversesqrt(m2 * invC + p.eps);
        vec4 m = mean;
        for (uint c = 0u; c < p.C; c++)
        {
            vec4 v = ((vec4(x4[base4 + c * step4]) - K) - m) * rstd * LD(gamma[c]) + LD(beta[c]);
            y4[base4 + c * step4] = STORE_V4(act4(v, p.act));
        }
        return;
    }

    // Ragged HW: pixels past the end are clamped onto the last one (computed, never stored).
    uint idx[4];
    for (int k = 0; k < 4; k++) idx[k] = plane + min(p0 + uint(k), p.hw - 1u);
    vec4 K = vec4(LD(x[idx[0]]), LD(x[idx[1]]), LD(x[idx[2]]), LD(x[idx[3]]));
    vec4 s = vec4(0.0);
    for (uint c = 0u; c < p.C; c++)
    {
        uint o = c * p.hw;
        s += vec4(LD(x[idx[0] + o]), LD(x[idx[1] + o]), LD(x[idx[2] + o]), LD(x[idx[3] + o])) - K;
    }
    vec4 m = s * invC;
    vec4 q = vec4(0.0);
    for (uint c = 0u; c < p.C; c++)
    {
        uint o = c * p.hw;
        vec4 d = (vec4(LD(x[idx[0] + o]), LD(x[idx[1] + o]), LD(x[idx[2] + o]), LD(x[idx[3] + o])) - K) - m;
        q = fma(d, d, q);
    }
    vec4 rstd = inversesqrt(q * invC + p.eps);
    uint valid = min(4u, p.hw - p0);
    for (uint c = 0u; c < p.C; c++)
    {
        uint o = c * p.hw;
        float gc = LD(gamma[c]), bc = LD(beta[c]);
        for (uint k = 0u; k < valid; k++)
            y[idx[k] + o] = ST(activate(((LD(x[idx[k] + o]) - K[k]) - m[k]) * rstd[k] * gc + bc, p.act));
    }
}
