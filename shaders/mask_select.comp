#version 450
// The one implementation of SAM's output-mask choice (every front end uses it). Single-mask: the official ONNX
// export's rule: with the padding point, prompts of one click take the best of masks 1..3 by predicted IoU, prompts
// with more points take mask 0 (score + (points - 2.5) * 1000 on mask 0). Multimask: masks 1..3 in order.
// Writes the chosen 256x256 logits (fp32) and their predicted IoU into each prompt's rows (any order: an object keeps
// its row from frame to frame), so nothing goes
// through the host between the decoder and rendering, and a tracker's next dense prompt is read from here.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Logits { STORE_T logits[]; };   // [batch, 4, plane]
layout(std430, binding = 1) readonly buffer Iou { STORE_T iou[]; };         // [batch, 4]
layout(std430, binding = 2) readonly buffer Rows { int rows[]; };           // [batch]: first output row of each prompt
layout(std430, binding = 3) writeonly buffer Chosen { float chosen[]; };    // [rows, plane]
layout(std430, binding = 4) writeonly buffer Score { float score[]; };      // [rows]

layout(push_constant) uniform P {
    int plane;       // pixels per mask (65536)
    int points;      // sparse tokens per prompt, padding point included
    int multimask;   // 1: three outputs per prompt (masks 1..3), 0: one
} p;

void main()
{
    int b = int(gl_GlobalInvocationID.y);
    int k = int(gl_GlobalInvocationID.z);
    int m = 1 + k;
    if (p.multimask == 0)
    {
        m = 0;
        float bestScore = -3.4e38;
        for (int c = 0; c < 4; c++)
        {
            float s = LD(iou[b * 4 + c]) + (c == 0 ? (float(p.points) - 2.5) * 1000.0 : 0.0);
            if (s > bestScore) { bestScore = s; m = c; }
        }
    }
    int row = rows[b] + k;
    uint x = gl_GlobalInvocationID.x;
    if (x == 0u) score[row] = LD(iou[b * 4 + m]);
    if (x < uint(p.plane)) chosen[row * p.plane + int(x)] = LD(logits[(b * 4 + m) * p.plane + int(x)]);
}
