#version 450
// The video frame as the scene's background; the linear sampler scales it to the target size.
layout(set = 0, binding = 0) uniform sampler2D video;
layout(push_constant) uniform Push
{
    vec2 invTargetSize;
} pc;
layout(location = 0) out vec4 colour;

void main()
{
    colour = vec4(texture(video, gl_FragCoord.xy * pc.invTargetSize).rgb, 1.0);
}
