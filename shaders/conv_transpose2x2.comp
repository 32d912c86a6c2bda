#version 450
// ConvTranspose2d with kernel 2, stride 2 (SAM's mask upscaling): every input pixel owns its own 2x2 output block,
// so there is no overlap and no reduction across pixels:
//   out[n, co, 2y+dy, 2x+dx] = act(bias[co] + sum_ci in[n, ci, y, x] * w[ci, co, dy, dx])
// Each invocation computes TC output channels x TP consecutive input pixels x 4 outputs in registers.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int TC = 8;
layout(constant_id = 2) const int TP = 4;

layout(std430, binding = 0) readonly buffer BufIn { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer BufW { STORE_T w[]; };
layout(std430, binding = 2) readonly buffer BufBias { STORE_T bias[]; };
layout(std430, binding = 3) writeonly buffer BufOut { STORE_T y[]; };

layout(push_constant) uniform P {
    int Cin, H, W, Cout;
    int hasBias, act;
} p;

void main()
{
    const int n = int(gl_WorkGroupID.z);
    const int c0 = int(gl_WorkGroupID.y) * TC;
    const int hw = p.H * p.W;
    const int p0 = int(gl_GlobalInvocationID.x) * TP;
    if (p0 >= hw) return;

    int pix[TP];
    for (int j = 0; j < TP; j++) pix[j] = min(p0 + j, hw - 1);   // past-the-end pixels are computed, not stored

    float acc[TC][TP][4];
    for (int c = 0; c < TC; c++)
        for (int j = 0; j < TP; j++)
            for (int d = 0; d < 4; d++) acc[c][j][d] = 0.0;

    for (int ci = 0; ci < p.Cin; ci++)
    {
        const int plane = (n * p.Cin + ci) * hw;
        float xs[TP];
        for (int j = 0; j < TP; j++) xs[j] = LD(x[plane + pix[j]]);
        const int wBase = (ci * p.Cout + c0) * 4;
        for (int c = 0; c < TC; c++)
        {
            for (int d = 0; d < 4; d++)
            {
                float wv = LD(w[wBase + c * 4 + d]);
                for (int j = 0; j < TP; j++) acc[c][j][d] = fma(wv, xs[j], acc[c][j][d]);
            }
        }
    }

    const int OW = 2 * p.W;
    for (int c = 0; c < TC; c++)
    {
        const int co = c0 + c;
        if (co >= p.Cout) break;
        const float b = p.hasBias != 0 ? LD(bias[co]) : 0.0;
        const int outPlane = (n * p.Cout + co) * 4 * hw;
        for (int j = 0; j < TP; j++)
        {
            const int q = p0 + j;
            if (q >= hw) break;
            const int iy = q / p.W;
            const int ix = q - iy * p.W;
            const int o = outPlane + 2 * iy * OW + 2 * ix;
            y[o] = ST(activate(acc[c][j][0] + b, p.act));
            y[o + 1] = ST(activate(acc[c][j][1] + b, p.act));
            y[o + OW] = ST(activate(acc[c][j][2] + b, p.act));
            y[o + OW + 1] = ST(activate(acc[c][j][3] + b, p.act));
        }
    }
}
