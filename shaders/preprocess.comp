#version 450
// SAM preprocessing from raw 8-bit pixels: PIL's bilinear resize (the official code resizes with PIL on uint8),
// then (v - mean) / std per RGB channel, zero padding to size x size.
// To reproduce PIL exactly this follows its 8-bit path: fixed-point coefficients with 22 fractional bits,
// computed on the host in double exactly as PIL does (tables in binding 1), a horizontal pass rounded and clipped
// to uint8, then a vertical pass over those rounded values. One invocation per output pixel redoes the horizontal
// pass for each of its vertical taps, which costs a few more multiply-adds than a second dispatch with a scratch
// image but needs neither.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
// 0: planes [3, size, size]; 1: channels last with a zero fourth channel [size·size, 4], so the stem conv reads each
// pixel as one vec4 texel (an implicit GEMM on the texel path instead of per-element loads).
layout(constant_id = 2) const int RGB0 = 0;

layout(std430, binding = 0) readonly buffer BufPix { uint pix[]; };
layout(std430, binding = 1) readonly buffer BufTab { int tab[]; };   // per output index: first, count, ksize coefficients
layout(std430, binding = 2) writeonly buffer BufOut { STORE_T y[]; };

layout(push_constant) uniform P {
    int strideBytes, bpp, aligned4;      // aligned4: 4 bytes per pixel and 4-byte aligned rows, one load per pixel
    int rOff, gOff, bOff;                // byte offset of R, G, B within a pixel
    int newW, newH, size;
    int xTab, kx, yTab, ky;              // table offsets (ints) and coefficients per entry, per axis
    float meanR, meanG, meanB, stdR, stdG, stdB;
} p;

const int PRECISION_BITS = 22;

int clip8(int v)
{
    if (v >= (256 << PRECISION_BITS)) return 255;
    if (v <= 0) return 0;
    return v >> PRECISION_BITS;
}

uint byteAt(int o) { return (pix[o >> 2] >> uint((o & 3) * 8)) & 0xFFu; }

ivec3 rgbAt(int x, int yRow)
{
    const int o = yRow * p.strideBytes + x * p.bpp;
    if (p.aligned4 != 0)
    {
        uint w = pix[o >> 2];
        return ivec3((w >> uint(p.rOff * 8)) & 0xFFu, (w >> uint(p.gOff * 8)) & 0xFFu, (w >> uint(p.bOff * 8)) & 0xFFu);
    }
    return ivec3(byteAt(o + p.rOff), byteAt(o + p.gOff), byteAt(o + p.bOff));
}

void main()
{
    const int ox = int(gl_GlobalInvocationID.x);
    const int oy = int(gl_GlobalInvocationID.y);
    if (ox >= p.size || oy >= p.size) return;
    const int o = oy * p.size + ox;
    // Where channel c of this pixel goes.
    const int base = RGB0 != 0 ? 4 * o : o, step = RGB0 != 0 ? 1 : p.size * p.size;
    if (RGB0 != 0) y[base + 3] = ST(0.0);
    if (ox >= p.newW || oy >= p.newH)
    {
        y[base] = ST(0.0);
        y[base + step] = ST(0.0);
        y[base + 2 * step] = ST(0.0);
        return;
    }

    const int xe = p.xTab + ox * (2 + p.kx);
    const int xmin = tab[xe], xn = tab[xe + 1];
    const int ye = p.yTab + oy * (2 + p.ky);
    const int ymin = tab[ye], yn = tab[ye + 1];

    ivec3 vacc = ivec3(1 << (PRECISION_BITS - 1));
    for (int j = 0; j < yn; j++)
    {
        const int row = ymin + j;
        ivec3 hacc = ivec3(1 << (PRECISION_BITS - 1));
        for (int i = 0; i < xn; i++) hacc += rgbAt(xmin + i, row) * tab[xe + 2 + i];
        const ivec3 h = ivec3(clip8(hacc.x), clip8(hacc.y), clip8(hacc.z));
        vacc += h * tab[ye + 2 + j];
    }
    const vec3 v = vec3(clip8(vacc.x), clip8(vacc.y), clip8(vacc.z));
    y[base] = ST((v.x - p.meanR) / p.stdR);
    y[base + step] = ST((v.y - p.meanG) / p.stdG);
    y[base + 2 * step] = ST((v.z - p.meanB) / p.stdB);
}
