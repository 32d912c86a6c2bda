#version 450
// Renders chosen 256x256 logits straight into 8-bit masks at the frame size, four pixels per uint (the byte order of
// an R8_UNORM image copied from a buffer). The logit at a frame pixel is SAM's postprocessing composed exactly:
// bilinear 256 -> 1024 (PyTorch align_corners=False), crop to the resized image (cropH x cropW), bilinear to the
// frame; both resizes are evaluated per pixel from the 256 plane, so no 1024x1024 or frame-size float plane exists.
// Each output combines `objects` consecutive planes: a pixel belongs to the plane with the largest positive logit
// among those whose predicted IoU reaches minScore, and gets 255 (binary) or that plane's label (1..255).
// One plane per output is the plain "threshold at 0" of a single prediction.
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

#ifdef TEXEL
// The same [planes, 256, 256] logits as an R32F uniform texel buffer (lavapipe's fast path for divergent reads; one
// float per fetch, so no lane picks a component out of a four-wide texel).
layout(binding = 0) uniform samplerBuffer logitsTex;
float logit(int i) { return texelFetch(logitsTex, i).x; }
#else
layout(std430, binding = 0) readonly buffer Logits { float logits[]; };   // [planes, 256, 256]
float logit(int i) { return logits[i]; }
#endif
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

const int LOW = 256;

// One axis of a 2-tap bilinear resize with PyTorch's clamping: first tap and the second tap's weight (0 at the edge).
void taps(float dst, float scale, int size, out int i0, out float l1)
{
    float src = max(scale * (dst + 0.5) - 0.5, 0.0);
    i0 = int(src);
    l1 = i0 < size - 1 ? src - float(i0) : 0.0;
}

// The 256 -> 1024 upsampled logit at (r, c) of the 1024 frame.
float up(int base, int r, int c)
{
    int y0, x0;
    float ly, lx;
    taps(float(r), 0.25, LOW, y0, ly);
    taps(float(c), 0.25, LOW, x0, lx);
    int y1 = min(y0 + 1, LOW - 1), x1 = min(x0 + 1, LOW - 1);
    float top = (1.0 - lx) * logit(base + y0 * LOW + x0) + lx * logit(base + y0 * LOW + x1);
    float bottom = (1.0 - lx) * logit(base + y1 * LOW + x0) + lx * logit(base + y1 * LOW + x1);
    return (1.0 - ly) * top + ly * bottom;
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
        int r0, c0;
        float ly, lx;
        taps(float(oy), p.scaleY, p.cropH, r0, ly);
        taps(float(ox), p.scaleX, p.cropW, c0, lx);
        int r1 = min(r0 + 1, p.cropH - 1), c1 = min(c0 + 1, p.cropW - 1);
        float best = 0.0;
        uint value = 0u;
        for (int o = 0; o < p.objects; o++)
        {
            int plane = output_ * p.objects + o;
            if (!(scores[plane] >= p.minScore)) continue;
            int base = plane * LOW * LOW;
            float top = (1.0 - lx) * up(base, r0, c0) + lx * up(base, r0, c1);
            float bottom = (1.0 - lx) * up(base, r1, c0) + lx * up(base, r1, c1);
            float v = (1.0 - ly) * top + ly * bottom;
            if (v > best) { best = v; value = p.binary != 0 ? 255u : uint(labels[plane]); }
        }
        result |= (value & 0xffu) << (8 * k);
    }
    packed[output_ * p.words + word] = result;
}
