#version 450
// Feature warping (Deep Feature Flow, Zhu et al., CVPR 2017): the embedding of a frame between two encoder runs is
// the key frame's embedding sampled where each cell's content was on the key frame. flow[cell] is that offset in
// cells (current → key). Sampling is bilinear and clamped to the cells that hold image, so a cell whose content came
// from outside the frame takes the nearest image cell rather than the padding's features; padding cells are copied.
// One invocation per (channel, cell): the channel is the slowest index, as in the [256, 64, 64] embedding.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Key { STORE_T key[]; };     // [C, 64, 64]
layout(std430, binding = 1) readonly buffer Flow { float flow[]; };     // [64, 64, 2]: (dx, dy) in cells
layout(std430, binding = 2) writeonly buffer Out { STORE_T dst[]; };    // [C, 64, 64]

layout(push_constant) uniform P {
    int channels;
    int validW, validH;   // embedding cells that hold image, not padding
} p;

const int SIDE = 64;

void main()
{
    // The grid may be spread over y and z (the device's per-axis group limit): linearised back here.
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    int i = int(group * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
    if (i >= p.channels * SIDE * SIDE) return;
    int c = i / (SIDE * SIDE), cell = i - c * SIDE * SIDE;
    int y = cell / SIDE, x = cell - y * SIDE;
    int plane = c * SIDE * SIDE;
    if (x >= p.validW || y >= p.validH) { dst[i] = key[i]; return; }
    float sx = clamp(float(x) + flow[cell * 2], 0.0, float(p.validW - 1));
    float sy = clamp(float(y) + flow[cell * 2 + 1], 0.0, float(p.validH - 1));
    int x0 = int(floor(sx)), y0 = int(floor(sy));
    int x1 = min(x0 + 1, p.validW - 1), y1 = min(y0 + 1, p.validH - 1);
    float fx = sx - float(x0), fy = sy - float(y0);
    float top = mix(LD(key[plane + y0 * SIDE + x0]), LD(key[plane + y0 * SIDE + x1]), fx);
    float bottom = mix(LD(key[plane + y1 * SIDE + x0]), LD(key[plane + y1 * SIDE + x1]), fx);
    dst[i] = ST(mix(top, bottom, fy));
}
