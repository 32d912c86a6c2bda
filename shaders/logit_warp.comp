#version 450
// Resamples one plane of logits as if the object it shows had moved: output cell (u, v) takes the bilinear sample of
// the source plane at the affine map of (u, v) (the inverse motion, in cells), and where a tap falls outside the plane,
// the plane's minimum (surely background). A tracker carries an object's last logits to the next frame this way
// without them leaving the GPU. One workgroup per plane: it first reduces the source's minimum, then warps.

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Src { float src[]; };    // plane at srcOffset
layout(std430, binding = 1) writeonly buffer Dst { float dst[]; };   // plane at dstOffset

layout(push_constant) uniform P {
    int cols, rows, srcOffset, dstOffset;
    float a00, a01, a02, a10, a11, a12;   // source cell = (a00 u + a01 v + a02, a10 u + a11 v + a12)
} p;

shared float partial[gl_WorkGroupSize.x];
shared float fill;

float At(int x, int y)
{
    return x < 0 || y < 0 || x >= p.cols || y >= p.rows ? fill : src[p.srcOffset + y * p.cols + x];
}

void main()
{
    int lid = int(gl_LocalInvocationID.x), wg = int(gl_WorkGroupSize.x);
    int plane = p.cols * p.rows;
    float m = 3.402823466e38;
    for (int i = lid; i < plane; i += wg) m = min(m, src[p.srcOffset + i]);
    partial[lid] = m;
    barrier();
    if (lid == 0)
    {
        for (int i = 1; i < wg; i++) m = min(m, partial[i]);
        fill = m;
    }
    barrier();

    for (int i = lid; i < plane; i += wg)
    {
        float u = float(i % p.cols), v = float(i / p.cols);
        // Far outside, every tap is the fill; the clamp keeps the float-to-int conversion defined.
        float su = clamp(p.a00 * u + p.a01 * v + p.a02, -2.0, float(p.cols) + 1.0);
        float sv = clamp(p.a10 * u + p.a11 * v + p.a12, -2.0, float(p.rows) + 1.0);
        float fu0 = floor(su), fv0 = floor(sv);
        int iu = int(fu0), iv = int(fv0);
        float fu = su - fu0, fv = sv - fv0;
        dst[p.dstOffset + i] = (1.0 - fv) * ((1.0 - fu) * At(iu, iv) + fu * At(iu + 1, iv))
                             + fv * ((1.0 - fu) * At(iu, iv + 1) + fu * At(iu + 1, iv + 1));
    }
}
