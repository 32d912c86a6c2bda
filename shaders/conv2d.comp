#version 450
// Direct 2D convolution, NCHW, weight [Cout, Cin/groups, KH, KW], with a fused epilogue:
//   out = act(conv(in, w) + bias) + residual
// Each invocation owns TC output channels x TR output rows x TP consecutive output pixels per row in registers.
// The TP pixels of a row read one strip of (TP-1)*S+KW inputs per (input channel, input row), so neighbouring taps
// share loads (3x3 stride 1: 10 loads for 24 taps), and each input row is loaded once for all TR output rows that
// use it (depthwise convs, which have no channel reuse, take TR > 1). Channel tiles live on the grid's y axis, so every lane of a workgroup reads
// the same weights. No shared memory: on llvmpipe barriers are coroutine switches (DESIGN.md).
// KH, KW and S are specialization constants so the tap loops unroll with constant offsets.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int TC = 8;   // output channels per invocation; divides Cout/groups
layout(constant_id = 2) const int TP = 8;   // output pixels per invocation, along a row
layout(constant_id = 3) const int KH = 3;
layout(constant_id = 4) const int KW = 3;
layout(constant_id = 5) const int S = 1;    // stride
layout(constant_id = 6) const int TR = 1;   // output rows per invocation
const int XN = (TP - 1) * S + KW;           // input strip per input row
const int RN = (TR - 1) * S + KH;           // input rows per invocation

layout(std430, binding = 0) readonly buffer BufIn { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer BufW { STORE_T w[]; };
layout(std430, binding = 2) readonly buffer BufBias { STORE_T bias[]; };
layout(std430, binding = 3) readonly buffer BufR { STORE_T r[]; };
layout(std430, binding = 4) writeonly buffer BufOut { STORE_T y[]; };

layout(push_constant) uniform P {
    int Cin, H, W, Cout, OH, OW;
    int pad;
    int cinPerGroup, coutPerGroup;
    int tilesPerRow;       // ceil(OW / TP)
    int hasBias, act, hasResidual;
} p;

void main()
{
    const int n = int(gl_WorkGroupID.z);
    const int c0 = int(gl_WorkGroupID.y) * TC;
    const int t = int(gl_GlobalInvocationID.x);
    const int rowTile = t / p.tilesPerRow;
    const int oy = rowTile * TR;
    if (oy >= p.OH) return;
    const int ox0 = (t - rowTile * p.tilesPerRow) * TP;
    const int ix0 = ox0 * S - p.pad;
    const int iyBase = oy * S - p.pad;
    const int ciBase = (c0 / p.coutPerGroup) * p.cinPerGroup;   // TC never straddles a group (host guarantees)

    float acc[TC][TR * TP];
    for (int c = 0; c < TC; c++)
        for (int j = 0; j < TR * TP; j++) acc[c][j] = 0.0;

    // Strip columns outside the image read a clamped address and are zeroed by a select: no per-tap branches.
    int col[XN];
    float inside[XN];
    for (int i = 0; i < XN; i++)
    {
        int ix = ix0 + i;
        col[i] = clamp(ix, 0, p.W - 1);
        inside[i] = (ix >= 0 && ix < p.W) ? 1.0 : 0.0;
    }

    const int wStride = p.cinPerGroup * KH * KW;   // between output channels
    for (int ci = 0; ci < p.cinPerGroup; ci++)
    {
        const int plane = (n * p.Cin + ciBase + ci) * p.H;
        const int wBase = c0 * wStride + ci * KH * KW;
        // Every loop below has constant bounds and is unrolled, so xs[] and acc[][] stay in registers; rows outside
        // the image are read clamped and zeroed rather than skipped, since a branch would block the unrolling.
        [[unroll]] for (int rr = 0; rr < RN; rr++)
        {
            const int iy = iyBase + rr;
            const float rowInside = (iy >= 0 && iy < p.H) ? 1.0 : 0.0;
            const int row = (plane + clamp(iy, 0, p.H - 1)) * p.W;
            float xs[XN];
            [[unroll]] for (int i = 0; i < XN; i++) xs[i] = LD(x[row + col[i]]) * (inside[i] * rowInside);
            [[unroll]] for (int tr = 0; tr < TR; tr++)
            {
                const int ky = rr - tr * S;   // constant after unrolling; out-of-range pairs vanish
                if (ky >= 0 && ky < KH)
                {
                    [[unroll]] for (int c = 0; c < TC; c++)
                    {
                        [[unroll]] for (int kx = 0; kx < KW; kx++)
                        {
                            float wv = LD(w[wBase + c * wStride + ky * KW + kx]);
                            [[unroll]] for (int j = 0; j < TP; j++) acc[c][tr * TP + j] = fma(wv, xs[j * S + kx], acc[c][tr * TP + j]);
                        }
                    }
                }
            }
        }
    }

    const int plane = p.OH * p.OW;
    for (int c = 0; c < TC; c++)
    {
        const int co = c0 + c;
        const float b = p.hasBias != 0 ? LD(bias[co]) : 0.0;
        for (int tr = 0; tr < TR; tr++)
        {
            if (oy + tr >= p.OH) break;
            const int outRow = (n * p.Cout + co) * plane + (oy + tr) * p.OW;
            for (int j = 0; j < TP; j++)
            {
                const int ox = ox0 + j;
                if (ox >= p.OW) break;
                float v = activate(acc[c][tr * TP + j] + b, p.act);
                if (p.hasResidual != 0) v += LD(r[outRow + ox]);
                y[outRow + ox] = ST(v);
            }
        }
    }
}
