#version 450
// Per tracking candidate, from its chosen 256x256 logits: the bounding box and count of positive low-res cells inside
// the resized image — 32 bytes, what the tracking decisions need of the mask itself (its appearance is the memory's
// score, memory_score.comp). One workgroup per row.
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Chosen { float chosen[]; };      // [objects, 256, 256]
layout(std430, binding = 1) writeonly buffer Stats { float stats[]; };       // [objects, 8]

layout(push_constant) uniform P {
    int validW, validH;   // low-res cells that hold image, not padding
} p;

const int LOW = 256, STRIDE = 8;

shared int sx0, sy0, sx1, sy1, sArea;

void main()
{
    int o = int(gl_WorkGroupID.x);
    int lid = int(gl_LocalInvocationID.x), wg = int(gl_WorkGroupSize.x);
    if (lid == 0) { sx0 = LOW; sy0 = LOW; sx1 = -1; sy1 = -1; sArea = 0; }
    barrier();

    int base = o * LOW * LOW;
    int x0 = LOW, y0 = LOW, x1 = -1, y1 = -1, area = 0;
    for (int i = lid; i < LOW * LOW; i += wg)
    {
        int y = i >> 8, x = i & 255;
        if (y < p.validH && x < p.validW && chosen[base + i] > 0.0)
        {
            x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y);
            area++;
        }
    }
    atomicMin(sx0, x0); atomicMin(sy0, y0); atomicMax(sx1, x1); atomicMax(sy1, y1);
    atomicAdd(sArea, area);
    barrier();

    if (lid == 0)
    {
        bool empty = sx1 < 0;
        stats[o * STRIDE + 0] = empty ? -1.0 : float(sx0);
        stats[o * STRIDE + 1] = empty ? -1.0 : float(sy0);
        stats[o * STRIDE + 2] = empty ? -1.0 : float(sx1);
        stats[o * STRIDE + 3] = empty ? -1.0 : float(sy1);
        stats[o * STRIDE + 4] = float(sArea);
        stats[o * STRIDE + 5] = 0.0;
        stats[o * STRIDE + 6] = 0.0;
        stats[o * STRIDE + 7] = 0.0;
    }
}
