// Shared by every kernel: the storage type switch and the few math helpers GLSL lacks.
// FP16 selects 16-bit storage; arithmetic always stays fp32 so accuracy depends only on what is stored.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

#ifdef FP16
#define STORE_T float16_t
#else
#define STORE_T float
#endif
#define LD(x) float(x)
#define ST(x) STORE_T(x)

#define ACT_NONE 0
#define ACT_GELU 1
#define ACT_RELU 2

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): GLSL has no erf and SAM's GELU is the erf form.
float erf_approx(float x)
{
    float s = sign(x);
    float a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
    return s * y;
}

float gelu(float x) { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }

float activate(float x, int act)
{
    if (act == ACT_GELU) return gelu(x);
    if (act == ACT_RELU) return max(x, 0.0);
    return x;
}

// TinyViT's window partition as a row map: row m of the partitioned matrix [ceil(H/ws)·ceil(W/ws)·ws², C] is token
// window_row(m) of the [H, W] map, or -1 for a bottom/right padding row. Kernels use it to gather or scatter rows
// in place, so no partitioned copy of the map is ever made.
int window_row(int m, int H, int W, int ws)
{
    int nWw = (W + ws - 1) / ws;
    int wsq = ws * ws;
    int win = m / wsq, k = m - win * wsq;
    int wy = win / nWw, wx = win - wy * nWw;
    int yy = wy * ws + k / ws, xx = wx * ws + k - (k / ws) * ws;
    return (yy < H && xx < W) ? yy * W + xx : -1;
}
