#version 450
// Picks each prompt's output mask on the GPU, with the official ONNX export's single-mask rule: with the padding
// point, prompts of one click choose the best of masks 1..3 by predicted IoU, prompts with more points take mask 0
// (score + (points - 2.5) * 1000 on mask 0). Writes the chosen 256x256 logits (fp32) and their score into the
// per-object slot, so the engine pass needs no readback between the decoder and postprocessing.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Logits { STORE_T logits[]; };   // [batch, 4, plane]
layout(std430, binding = 1) readonly buffer Iou { STORE_T iou[]; };         // [batch, 4]
layout(std430, binding = 2) writeonly buffer Chosen { float chosen[]; };    // [objects, plane]
layout(std430, binding = 3) writeonly buffer Score { float score[]; };      // [objects]

layout(push_constant) uniform P {
    int plane;       // pixels per mask (65536)
    int points;      // sparse tokens per prompt, padding point included
    int firstObject; // slot of batch entry 0
} p;

void main()
{
    int b = int(gl_GlobalInvocationID.y);
    int best = 0;
    float bestScore = -3.4e38;
    for (int m = 0; m < 4; m++)
    {
        float s = LD(iou[b * 4 + m]) + (m == 0 ? (float(p.points) - 2.5) * 1000.0 : 0.0);
        if (s > bestScore) { bestScore = s; best = m; }
    }
    int obj = p.firstObject + b;
    uint x = gl_GlobalInvocationID.x;
    if (x == 0u) score[obj] = LD(iou[b * 4 + best]);
    if (x < uint(p.plane)) chosen[obj * p.plane + int(x)] = LD(logits[(b * 4 + best) * p.plane + int(x)]);
}
