#version 450
// TinyViT window partition / unpartition on a [B, H, W, C] token map (C fastest).
//   partition:   [B, H, W, C] -> [B * nWh * nWw, ws*ws, C], bottom/right padding written as literal zeros
//   unpartition: the inverse, cropping the padding, optionally adding a residual (x + attn(x))
// Each invocation moves 4 channels of one token, as a vec4 when C % 4 == 0 (llvmpipe scalarises per-lane loads,
// so wider loads are nearly free). Pure data movement: results are bit-exact.
#include "common.glsl"

layout(local_size_x_id = 0) in;

#ifdef FP16
#define STORE_V4 f16vec4
#else
#define STORE_V4 vec4
#endif

layout(std430, binding = 0) readonly buffer BufI { STORE_T src[]; };
layout(std430, binding = 0) readonly buffer BufI4 { STORE_V4 src4[]; };
layout(std430, binding = 1) readonly buffer BufR { STORE_T res[]; };
layout(std430, binding = 1) readonly buffer BufR4 { STORE_V4 res4[]; };
layout(std430, binding = 2) writeonly buffer BufO { STORE_T dst[]; };
layout(std430, binding = 2) writeonly buffer BufO4 { STORE_V4 dst4[]; };

layout(push_constant) uniform P {
    uint batch, H, W, C, ws;
    uint nWh, nWw;      // windows down and across (ceil(H/ws), ceil(W/ws))
    int unpartition;
    int hasResidual;
} p;

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint g = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint cg = (p.C + 3u) >> 2;
    uint wsq = p.ws * p.ws;
    uint outTokens = p.unpartition != 0 ? p.batch * p.H * p.W : p.batch * p.nWh * p.nWw * wsq;
    if (g >= outTokens * cg) return;
    uint t = g / cg;
    uint c0 = (g - t * cg) * 4u;

    // Map the output token to its (window token, image token) pair; inside = false for padding.
    uint winTok, imgTok;
    bool inside;
    if (p.unpartition == 0)
    {
        uint win = t / wsq, k = t - win * wsq;
        uint perImage = p.nWh * p.nWw;
        uint b = win / perImage, wr = win - b * perImage;
        uint wy = wr / p.nWw, wx = wr - wy * p.nWw;
        uint yy = wy * p.ws + k / p.ws, xx = wx * p.ws + k % p.ws;
        inside = yy < p.H && xx < p.W;
        imgTok = (b * p.H + yy) * p.W + xx;
        winTok = t;
    }
    else
    {
        uint b = t / (p.H * p.W), r = t - b * p.H * p.W;
        uint yy = r / p.W, xx = r - yy * p.W;
        uint win = (b * p.nWh + yy / p.ws) * p.nWw + xx / p.ws;
        winTok = win * wsq + (yy % p.ws) * p.ws + xx % p.ws;
        imgTok = t;
        inside = true;
    }
    uint from = p.unpartition != 0 ? winTok : imgTok;

    if ((p.C & 3u) == 0u)
    {
        uint o4 = (t * p.C + c0) >> 2;
        if (!inside) { dst4[o4] = STORE_V4(vec4(0.0)); return; }
        if (p.hasResidual != 0)
            dst4[o4] = STORE_V4(vec4(src4[(from * p.C + c0) >> 2]) + vec4(res4[o4]));
        else
            dst4[o4] = src4[(from * p.C + c0) >> 2];
        return;
    }
    uint end = min(c0 + 4u, p.C);
    for (uint c = c0; c < end; c++)
    {
        uint o = t * p.C + c;
        if (!inside) dst[o] = ST(0.0);
        else if (p.hasResidual != 0) dst[o] = ST(LD(src[from * p.C + c]) + LD(res[o]));
        else dst[o] = src[from * p.C + c];
    }
}
