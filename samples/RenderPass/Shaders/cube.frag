#version 450
layout(location = 0) in vec3 normal;
layout(location = 1) flat in int face;
layout(location = 0) out vec4 colour;

const vec3 faceColours[6] = vec3[](vec3(0.90, 0.25, 0.20), vec3(0.20, 0.70, 0.30), vec3(0.25, 0.45, 0.95),
                                   vec3(0.95, 0.80, 0.20), vec3(0.80, 0.30, 0.85), vec3(0.20, 0.80, 0.85));
const vec3 toLight = vec3(-0.3, 0.5, 0.8); // world space, y up: from the upper left, in front of the cube

void main()
{
    float diffuse = max(dot(normalize(normal), normalize(toLight)), 0.0);
    colour = vec4(faceColours[face] * (0.3 + 0.7 * diffuse), 1.0);
}
