#version 450
// Turns per-object logits at the frame size into one 8-bit image (four pixels per uint, the byte order of an
// R8_UNORM image copied from a buffer). A pixel belongs to the object with the largest positive logit, so objects
// never overlap. Binary mode writes 255 for any object; label mode writes the object's label (1..255); objects whose
// label is 0 (disabled) or whose predicted IoU is below the floor are left out.
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };   // [objects, pixels]
layout(std430, binding = 1) readonly buffer Labels { float labels[]; };   // [objects]: label 1..255, 0 = disabled
layout(std430, binding = 2) readonly buffer Scores { float scores[]; };   // [objects]: predicted IoU
layout(std430, binding = 3) writeonly buffer Out { uint packed[]; };      // [ceil(pixels / 4)]

layout(push_constant) uniform P {
    int pixels;
    int objects;
    int binary;
    float minScore;  // objects predicted below this are left out in the same frame (no CPU round trip)
} p;

void main()
{
    uint word = gl_GlobalInvocationID.x;
    int first = int(word) * 4;
    if (first >= p.pixels) return;
    uint result = 0u;
    for (int k = 0; k < 4; k++)
    {
        int i = first + k;
        if (i >= p.pixels) break;
        float best = 0.0;
        uint value = 0u;
        for (int o = 0; o < p.objects; o++)
        {
            uint label = scores[o] >= p.minScore ? uint(labels[o]) : 0u;
            float v = logits[o * p.pixels + i];
            if (label != 0u && v > best) { best = v; value = p.binary != 0 ? 255u : label; }
        }
        result |= (value & 0xffu) << (8 * k);
    }
    packed[word] = result;
}
