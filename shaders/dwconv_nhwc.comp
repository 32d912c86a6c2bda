#version 450
// Depthwise 2D convolution on channels-last maps [H, W, C] → [OH, OW, C] (TinyViT's token rows seen as a map),
// weight [KH·KW, C] (taps-major: DepthwiseConv.TapsMajor reorders PyTorch's [C, 1, KH, KW]), optional bias, fused activation and residual (same layout as the output):
//   y = act(conv(x, w) + bias) + residual
// Each invocation owns 4 channels (one vec4; C % 4 == 0, Dwconv.cs checks) of TP consecutive output pixels along a
// row. Neighbouring lanes take neighbouring channel groups of the same pixels, so their loads are adjacent vec4s;
// a per-lane load costs llvmpipe the same at any width. The KH·KW weight vec4s are read once into registers.
// Reading channels-last is what lets the encoder keep token rows from stem to neck with no permute around this conv.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int TP = 8;
layout(constant_id = 2) const int KH = 3;
layout(constant_id = 3) const int KW = 3;
layout(constant_id = 4) const int S = 1;
const int XN = (TP - 1) * S + KW;

#ifdef FP16
#define STORE_V4 f16vec4
#else
#define STORE_V4 vec4
#endif

#ifdef TEXEL
// The inputs as four-wide uniform texel buffers: a storage load is a per-lane scalar loop on llvmpipe, a texel fetch
// one gather of the vec4.
layout(binding = 0) uniform samplerBuffer xt;
layout(binding = 1) uniform samplerBuffer wt;
layout(binding = 2) uniform samplerBuffer biast;
layout(binding = 3) uniform samplerBuffer rt;
#define X(i) texelFetch(xt, i)
#define WT(i) texelFetch(wt, i)
#define BIAS(i) texelFetch(biast, i)
#define RES(i) texelFetch(rt, i)
#else
layout(std430, binding = 0) readonly buffer BufIn { STORE_V4 x[]; };
layout(std430, binding = 1) readonly buffer BufW { STORE_V4 w[]; };
layout(std430, binding = 2) readonly buffer BufBias { STORE_V4 bias[]; };
layout(std430, binding = 3) readonly buffer BufR { STORE_V4 r[]; };
#define X(i) vec4(x[i])
#define WT(i) vec4(w[i])
#define BIAS(i) vec4(bias[i])
#define RES(i) vec4(r[i])
#endif
layout(std430, binding = 4) writeonly buffer BufOut { STORE_V4 y[]; };

layout(push_constant) uniform P {
    int H, W, C4, OH, OW;
    int pad;
    int tilesPerRow;       // ceil(OW / TP)
    int hasBias, act, hasResidual;
} p;

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const int g = int(group * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
    const int t = g / p.C4;
    const int c4 = g - t * p.C4;
    const int oy = t / p.tilesPerRow;
    if (oy >= p.OH) return;
    const int ox0 = (t - oy * p.tilesPerRow) * TP;
    const int ix0 = ox0 * S - p.pad;

    vec4 wv[KH * KW];
    [[unroll]] for (int k = 0; k < KH * KW; k++) wv[k] = WT(k * p.C4 + c4);

    // Columns and rows outside the map read a clamped address and are zeroed by a factor: no per-tap branches.
    int col[XN];
    float inside[XN];
    [[unroll]] for (int i = 0; i < XN; i++)
    {
        int ix = ix0 + i;
        col[i] = clamp(ix, 0, p.W - 1);
        inside[i] = (ix >= 0 && ix < p.W) ? 1.0 : 0.0;
    }

    vec4 acc[TP];
    [[unroll]] for (int j = 0; j < TP; j++) acc[j] = vec4(0.0);
    [[unroll]] for (int ky = 0; ky < KH; ky++)
    {
        const int iy = oy * S - p.pad + ky;
        const float rowInside = (iy >= 0 && iy < p.H) ? 1.0 : 0.0;
        const int row = clamp(iy, 0, p.H - 1) * p.W;
        vec4 xs[XN];
        [[unroll]] for (int i = 0; i < XN; i++) xs[i] = X((row + col[i]) * p.C4 + c4) * (inside[i] * rowInside);
        [[unroll]] for (int kx = 0; kx < KW; kx++)
            [[unroll]] for (int j = 0; j < TP; j++) acc[j] = fma(wv[ky * KW + kx], xs[j * S + kx], acc[j]);
    }

    const vec4 b = p.hasBias != 0 ? BIAS(c4) : vec4(0.0);
    for (int j = 0; j < TP; j++)
    {
        const int ox = ox0 + j;
        if (ox >= p.OW) break;
        const int o = (oy * p.OW + ox) * p.C4 + c4;
        vec4 v = acc[j] + b;
        v = vec4(activate(v.x, p.act), activate(v.y, p.act), activate(v.z, p.act), activate(v.w, p.act));
        if (p.hasResidual != 0) v += RES(o);
        y[o] = STORE_V4(v);
    }
}
