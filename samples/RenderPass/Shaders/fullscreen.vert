#version 450
// One oversized triangle covers the viewport, so full-screen passes need no vertex buffer. No outputs: the
// fragment shaders work from gl_FragCoord, which keeps this shader's interface matching all of them.
void main()
{
    vec2 p = vec2((gl_VertexIndex << 1) & 2, gl_VertexIndex & 2);
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
