#version 450
// Renders chosen 256x256 logits straight into 8-bit masks at the frame size, four pixels per uint (the byte order of
// an R8_UNORM image copied from a buffer). The logit at a frame pixel is SAM's postprocessing composed exactly:
// bilinear 256 -> 1024 (PyTorch align_corners=False), crop to the resized image (cropH x cropW), bilinear to the
// frame; both resizes are evaluated from the 256 plane, so no 1024x1024 or frame-size float plane exists.
// Each output combines `objects` consecutive planes: a pixel belongs to the plane with the largest positive logit
// among those whose predicted IoU reaches minScore, and gets 255 (binary) or that plane's label (1..255).
// One plane per output is the plain "threshold at 0" of a single prediction.
//
// Bilinear resizes are separable, so the composition is too. ROWS is the first of two passes: each of a plane's 256
// rows resampled along x to the frame width, [planes, 256, outW] (4 reads per value, 256 values per frame column).
// The second (ROWS_IN) resamples those columns along y at every frame pixel: 4 reads a pixel where composing both
// axes at once reads 16. Without ROWS_IN the pixel pass composes both axes from the 256 plane (one pass, for
// renders whose rows would not fit a buffer).
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

#ifdef TEXEL
// The source as an R32F uniform texel buffer (lavapipe's fast path for divergent reads; one float per fetch).
layout(binding = 0) uniform samplerBuffer srcTex;
float src(int i) { return texelFetch(srcTex, i).x; }
#else
layout(std430, binding = 0) readonly buffer Src { float srcBuf[]; };
float src(int i) { return srcBuf[i]; }
#endif

const int LOW = 256;

// One axis of a 2-tap bilinear resize with PyTorch's clamping: first tap and the second tap's weight (0 at the edge).
void taps(float dst, float scale, int size, out int i0, out float l1)
{
    float s = max(scale * (dst + 0.5) - 0.5, 0.0);
    i0 = int(s);
    l1 = i0 < size - 1 ? s - float(i0) : 0.0;
}

// 256 -> 1024 along one axis at position `at` of the 1024 frame, from values `stride` apart starting at `base`.
float up(int base, int stride, int at)
{
    int i0;
    float l;
    taps(float(at), 0.25, LOW, i0, l);
    int i1 = min(i0 + 1, LOW - 1);
    return (1.0 - l) * src(base + i0 * stride) + l * src(base + i1 * stride);
}

#ifdef ROWS
layout(std430, binding = 1) writeonly buffer Rows { float rows[]; };   // [planes, 256, outW]

layout(push_constant) uniform P {
    int outW;
    int cropW;
    float scaleX;   // crop / frame width, in float as PyTorch computes it
} p;

void main()
{
    int ox = int(gl_GlobalInvocationID.x);
    if (ox >= p.outW) return;
    int row = int(gl_WorkGroupID.z) * LOW + int(gl_WorkGroupID.y);
    int c0;
    float lx;
    taps(float(ox), p.scaleX, p.cropW, c0, lx);
    int c1 = min(c0 + 1, p.cropW - 1);
    int base = row * LOW;
    rows[row * p.outW + ox] = (1.0 - lx) * up(base, 1, c0) + lx * up(base, 1, c1);
}
#else
layout(std430, binding = 1) readonly buffer Labels { float labels[]; };   // [planes] 1..255; not read when binary
layout(std430, binding = 2) readonly buffer Scores { float scores[]; };   // [planes] predicted IoU
layout(std430, binding = 3) writeonly buffer Out { uint packed[]; };      // [outputs, words]

layout(push_constant) uniform P {
    int outW, outH;      // frame size
    int cropW, cropH;    // the resized image inside SAM's 1024 frame
    float scaleX, scaleY; // crop / frame, in float as PyTorch computes it
    int objects;         // planes per output
    int binary;
    float minScore;
    int words;           // uints per output
    int groupsX;         // workgroups per row of the dispatch grid (the grid may wrap into y)
} p;

#ifndef ROWS_IN
// The 256 -> 1024 upsampled logit at (r, c) of the 1024 frame: along x on two rows, then along y.
float up2(int base, int r, int c)
{
    int y0;
    float ly;
    taps(float(r), 0.25, LOW, y0, ly);
    int y1 = min(y0 + 1, LOW - 1);
    return (1.0 - ly) * up(base + y0 * LOW, 1, c) + ly * up(base + y1 * LOW, 1, c);
}
#endif

// The plane's logit at frame pixel (oy, ox) given the frame row's taps into the crop (r0, r1, ly).
float logit_at(int plane, int r0, int r1, float ly, int ox)
{
#ifdef ROWS_IN
    // Source: the plane's rows already resampled along x.
    int base = plane * LOW * p.outW + ox;
    return (1.0 - ly) * up(base, p.outW, r0) + ly * up(base, p.outW, r1);
#else
    int c0;
    float lx;
    taps(float(ox), p.scaleX, p.cropW, c0, lx);
    int c1 = min(c0 + 1, p.cropW - 1);
    int base = plane * LOW * LOW;
    float top = (1.0 - lx) * up2(base, r0, c0) + lx * up2(base, r0, c1);
    float bottom = (1.0 - lx) * up2(base, r1, c0) + lx * up2(base, r1, c1);
    return (1.0 - ly) * top + ly * bottom;
#endif
}

void main()
{
    int output_ = int(gl_WorkGroupID.z);
    int word = int((gl_WorkGroupID.y * uint(p.groupsX) + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
    if (word >= p.words) return;
    int pixels = p.outW * p.outH;
    uint result = 0u;
    for (int k = 0; k < 4; k++)
    {
        int i = word * 4 + k;
        if (i >= pixels) break;
        int oy = i / p.outW, ox = i - oy * p.outW;
        int r0;
        float ly;
        taps(float(oy), p.scaleY, p.cropH, r0, ly);
        int r1 = min(r0 + 1, p.cropH - 1);
        float best = 0.0;
        uint value = 0u;
        for (int o = 0; o < p.objects; o++)
        {
            int plane = output_ * p.objects + o;
            if (!(scores[plane] >= p.minScore)) continue;
            float v = logit_at(plane, r0, r1, ly, ox);
            if (v > best) { best = v; value = p.binary != 0 ? 255u : uint(labels[plane]); }
        }
        result |= (value & 0xffu) << (8 * k);
    }
    packed[output_ * p.words + word] = result;
}
#endif
