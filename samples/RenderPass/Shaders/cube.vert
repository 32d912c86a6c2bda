#version 450
// A unit cube from gl_VertexIndex alone (36 vertices, 6 per face), so the sample needs no vertex buffer.
layout(push_constant) uniform Push
{
    mat4 mvp;
    mat4 model;   // rotation only, so it also transforms normals
} pc;

layout(location = 0) out vec3 normal;
layout(location = 1) flat out int face;

const vec3 normals[6] = vec3[](vec3(1, 0, 0), vec3(-1, 0, 0), vec3(0, 1, 0), vec3(0, -1, 0), vec3(0, 0, 1), vec3(0, 0, -1));
// Two triangles per face in the face's (u, v) plane, counter-clockwise seen from outside.
const vec2 corners[6] = vec2[](vec2(-1, -1), vec2(1, -1), vec2(1, 1), vec2(-1, -1), vec2(1, 1), vec2(-1, 1));

void main()
{
    face = gl_VertexIndex / 6;
    vec3 n = normals[face];
    // u, v span the face with u x v = n, which keeps the winding counter-clockwise from outside on every face.
    vec3 u = abs(n.x) > 0.5 ? vec3(0, 1, 0) : vec3(1, 0, 0);
    vec3 v = cross(n, u);
    vec2 c = corners[gl_VertexIndex % 6];
    vec3 p = 0.5 * (n + c.x * u + c.y * v);
    normal = mat3(pc.model) * n;
    gl_Position = pc.mvp * vec4(p, 1.0);
}
