#version 450
// Elementwise ops over flat tensors: out = a + b, act(a), act(a + b), a, a + b[i % period].
// Each invocation owns 4 consecutive elements and moves them as one vec4 when it can: llvmpipe turns every
// per-lane storage-buffer load into a scalar loop, so one 16-byte load costs what one 4-byte load does (DESIGN.md).
// The grid is linearised over x/y/z so counts beyond maxComputeWorkGroupCount[0] groups still fit.
#include "common.glsl"

layout(local_size_x_id = 0) in;

#ifdef FP16
#define STORE_V4 f16vec4
#else
#define STORE_V4 vec4
#endif

// Each buffer is bound once and seen twice: as scalars for the ragged tail, as vec4 for the aligned body.
layout(std430, binding = 0) readonly buffer BufA { STORE_T a[]; };
layout(std430, binding = 0) readonly buffer BufA4 { STORE_V4 a4[]; };
layout(std430, binding = 1) readonly buffer BufB { STORE_T b[]; };
layout(std430, binding = 1) readonly buffer BufB4 { STORE_V4 b4[]; };
layout(std430, binding = 2) writeonly buffer BufO { STORE_T o[]; };
layout(std430, binding = 2) writeonly buffer BufO4 { STORE_V4 o4[]; };

#define OP_ADD 0
#define OP_ACT 1
#define OP_ADD_ACT 2
#define OP_COPY 3
#define OP_ADD_BCAST 4

layout(push_constant) uniform P {
    uint count;     // elements
    uint period;    // OP_ADD_BCAST: length of b's table
    int op;
    int act;
    int vec4Ok;     // 1 when b's table is 4-aligned too (period % 4 == 0), so vec4 indexing of b is exact
} p;

vec4 act4(vec4 v, int act)
{
    return vec4(activate(v.x, act), activate(v.y, act), activate(v.z, act), activate(v.w, act));
}

void main()
{
    uint group = (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint g = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint i0 = g * 4u;
    if (i0 >= p.count) return;

    if (p.vec4Ok != 0 && i0 + 4u <= p.count)
    {
        vec4 v = vec4(a4[g]);
        if (p.op == OP_ADD || p.op == OP_ADD_ACT) v += vec4(b4[g]);
        else if (p.op == OP_ADD_BCAST) v += vec4(b4[g % (p.period >> 2)]);
        if (p.op == OP_ACT || p.op == OP_ADD_ACT) v = act4(v, p.act);
        o4[g] = STORE_V4(v);
        return;
    }
    uint end = min(i0 + 4u, p.count);
    for (uint i = i0; i < end; i++)
    {
        float v = LD(a[i]);
        if (p.op == OP_ADD || p.op == OP_ADD_ACT) v += LD(b[i]);
        else if (p.op == OP_ADD_BCAST) v += LD(b[i % p.period]);
        if (p.op == OP_ACT || p.op == OP_ADD_ACT) v = activate(v, p.act);
        o[i] = ST(v);
    }
}
