#version 450
// The AR effect: pixels inside the mask are tinted, the mask's inner rim is drawn as an outline, and everything
// outside is the rendered scene unchanged. Only texelFetch (no filtering), so the result is an exact function of
// the two inputs that tests can recompute on the CPU.
layout(set = 0, binding = 0) uniform sampler2D scene;
layout(set = 0, binding = 1) uniform sampler2D mask;
layout(push_constant) uniform Push
{
    vec4 tint;     // rgb, a = blend weight of the tint
    vec4 outline;  // rgb; a unused
    int radius;    // outline width in pixels
} pc;
layout(location = 0) out vec4 colour;

bool inside(ivec2 p, ivec2 size)
{
    return texelFetch(mask, clamp(p, ivec2(0), size - 1), 0).r >= 0.5;
}

void main()
{
    ivec2 p = ivec2(gl_FragCoord.xy);
    ivec2 size = textureSize(scene, 0);
    vec4 c = texelFetch(scene, p, 0);
    if (!inside(p, size))
    {
        colour = c;
        return;
    }
    // Diamond neighbourhood: an inside pixel within radius (L1) of an outside one is on the rim.
    bool rim = false;
    for (int dy = -pc.radius; dy <= pc.radius; dy++)
        for (int dx = -pc.radius; dx <= pc.radius; dx++)
            if (abs(dx) + abs(dy) <= pc.radius && !inside(p + ivec2(dx, dy), size)) rim = true;
    colour = rim ? vec4(pc.outline.rgb, c.a) : vec4(mix(c.rgb, pc.tint.rgb, pc.tint.a), c.a);
}
