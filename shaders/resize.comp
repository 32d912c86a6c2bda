#version 450
// Bilinear resampling of the top-left cropH x cropW region of each [inH, inW] plane to [outH, outW], PyTorch
// F.interpolate(mode="bilinear", align_corners=False) semantics. With antialias, an axis that shrinks uses the
// triangle filter widened by the scale (PyTorch antialias=True, the same formula as PIL's bilinear); an axis that
// grows (or with antialias off) uses plain 2-tap bilinear, which is what PyTorch's antialias path reduces to there.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer BufIn { STORE_T x[]; };
layout(std430, binding = 1) writeonly buffer BufOut { STORE_T y[]; };

layout(push_constant) uniform P {
    int inH, inW, cropH, cropW, outH, outW;
    float scaleY, scaleX;    // crop / out, as PyTorch computes it (float)
    int aaY, aaX;            // 1: antialiased filter on this axis
} p;

// Taps of one axis: first index, count, and the filter centre / inverse width for the antialiased case.
struct Axis { int lo; int n; float center; float inv; float l1; };

Axis axisTaps(int o, int inSize, float scale, bool aa)
{
    Axis a;
    if (aa)
    {
        // PyTorch's _compute_indices_weights_aa: support = scale (interp size 2 / 2 * scale), truncation as int().
        float center = scale * (float(o) + 0.5);
        a.lo = max(int(center - scale + 0.5), 0);
        a.n = min(int(center + scale + 0.5), inSize) - a.lo;
        a.center = center;
        a.inv = 1.0 / scale;
        a.l1 = 0.0;
    }
    else
    {
        float src = max(scale * (float(o) + 0.5) - 0.5, 0.0);
        int i0 = int(src);
        a.lo = i0;
        a.n = i0 < inSize - 1 ? 2 : 1;
        a.l1 = a.n == 2 ? src - float(i0) : 0.0;   // at the last row/column PyTorch puts all weight on it
        a.center = 0.0;
        a.inv = 0.0;
    }
    return a;
}

float tapWeight(Axis a, int k, bool aa)
{
    if (aa) return max(0.0, 1.0 - abs((float(a.lo + k) - a.center + 0.5) * a.inv));
    return k == 0 ? 1.0 - a.l1 : a.l1;
}

void main()
{
    const int ox = int(gl_GlobalInvocationID.x);
    const int oy = int(gl_GlobalInvocationID.y);
    const int plane = int(gl_WorkGroupID.z);
    if (ox >= p.outW || oy >= p.outH) return;

    const bool aaY = p.aaY != 0, aaX = p.aaX != 0;
    Axis ay = axisTaps(oy, p.cropH, p.scaleY, aaY);
    Axis ax = axisTaps(ox, p.cropW, p.scaleX, aaX);

    // The 2D weights are separable, so one normalisation by (sum wy)(sum wx) at the end suffices.
    float sumX = 0.0;
    for (int i = 0; i < ax.n; i++) sumX += tapWeight(ax, i, aaX);
    float sumY = 0.0;
    float acc = 0.0;
    const int base = plane * p.inH * p.inW;
    for (int j = 0; j < ay.n; j++)
    {
        float wy = tapWeight(ay, j, aaY);
        sumY += wy;
        const int row = base + (ay.lo + j) * p.inW + ax.lo;
        float racc = 0.0;
        for (int i = 0; i < ax.n; i++) racc = fma(tapWeight(ax, i, aaX), LD(x[row + i]), racc);
        acc = fma(wy, racc, acc);
    }
    y[(plane * p.outH + oy) * p.outW + ox] = ST(acc / (sumX * sumY));
}
