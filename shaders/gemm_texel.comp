#version 450
// gemm.comp's contract (same push constants, same epilogue, same k-order of the fma chain, so results match it
// bit for bit) for the common case where A and B can be read as vec4 texels along a contiguous axis.
// A and B are uniform texel buffers (samplerBuffer, RGBA32F or RGBA16F): llvmpipe serves texelFetch through its
// gather path, while a storage-buffer load whose address differs per lane becomes a per-lane scalar loop, and one
// fetch brings 4 values, so this is ~3x the storage-buffer kernel there (DESIGN.md). Gemm.cs only picks this
// shader when A is contiguous along K, K and every A/B offset and stride are multiples of 4, and:
//   BMODE 0: B contiguous along K (a weight [N,K] viewed transposed): 4 k-steps per fetch of A and of B;
//   BMODE 1: B contiguous along N (N multiple of 4, TN multiple of 4): one fetch of B gives 4 columns;
//   BMODE 2: implicit convolution (no im2col buffer): row m of A is output pixel m of a KS x KS, stride CS conv over
//            a channels-last map [convH, convW, 4·convCin4], gathered tap by tap (zero outside the map); B as in mode
//            0 with K ordered (ky, kx, c), i.e. the weight [Cout, ky, kx, Cin]. The k-order differs from im2col's.
// LNORM 1 (BMODE 0 and 2): a LayerNorm prologue over each A row (BMODE 0: the whole K; BMODE 2: each tap's Cin),
// with gamma folded into B and the rest into lnTab (Gemm.FoldLayerNorm):
//   LN(a)·W = rstd·(a − μ)·(γ∘W) + β·W = rstd·(Σ(a − s)·B − (μ − s)·colsum) + βW,   s = the row's first value.
// The invocation reads its rows whole anyway, so the row statistics ride along in the same loop: no normalised
// copy of A is written and read back, and no separate dispatch. One pass over (a − s): the shift keeps
// E[d²] − E[d]² from cancelling, since s is a value of the row and |μ − s| is a few deviations, not the offset.
// AGATHER 1 (BMODE 0): A's row m is token window_row(m) of a winH x winW map (TinyViT's window partition), a
// padding row reading as zeros; the window fields then describe the gather, and C is written unscattered.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 2) const int TM = 4;
layout(constant_id = 3) const int TN = 4;
layout(constant_id = 4) const int BMODE = 0;
layout(constant_id = 5) const int KS = 1;   // BMODE 2: kernel size
layout(constant_id = 6) const int CS = 1;   // BMODE 2: stride
layout(constant_id = 7) const int LNORM = 0;
layout(constant_id = 8) const int AGATHER = 0;

layout(binding = 0) uniform samplerBuffer texA;
layout(binding = 1) uniform samplerBuffer texB;
// Bias and residual as one-wide texels: the epilogue reads them per output element, where a storage load would be
// a per-lane scalar loop on llvmpipe.
layout(binding = 2) uniform samplerBuffer biasT;
layout(binding = 3) uniform samplerBuffer resT;
#define BIAS_AT(i) texelFetch(biasT, i).x
#define RES_AT(i) texelFetch(resT, i).x
layout(std430, binding = 4) writeonly buffer BufC { STORE_T c[]; };
// LNORM: [taps·N] column sums of B, then [taps·N] β·W, fp32 whatever the storage type (the subtraction of
// (μ − s)·colsum is where a rounded table would show).
layout(binding = 5) uniform samplerBuffer lnTabT;   // R32F texels, read per output element like the bias
#define LN_TAB(i) texelFetch(lnTabT, i).x

layout(push_constant) uniform P {
    int M, N, K;
    int aOff, aBatch, aM, aK;
    int bOff, bBatch, bK, bN;
    int cOff, cBatch, cM, cN;
    int rOff, rBatch;
    int biasMode;
    int act;
    int hasResidual;      // 1: added after the activation, 2: added before it (MBConv's act(x + f(x)))
    float alpha;
    int winH, winW, ws;   // ws > 0: row m of the result is row window_row(m) of C and R, padding rows dropped
    int convH, convW, convCin4, convPad;   // BMODE 2 only
    int d2sW, d2sC;       // d2sC > 0: depth-to-space scatter (gemm_epilogue.glsl)
    int biasBatch;        // bias offset per batch entry (0: one bias for all)
    float lnEps;          // LNORM only
} p;

#include "gemm_epilogue.glsl"

// LNORM: (μ − s, 1/σ) of a row of `count` values from the sums of d = a − s and d² (biased variance, as LayerNorm).
vec2 ln_stats(vec4 s, vec4 q, int count)
{
    float inv = 1.0 / float(count);
    float m = (s.x + s.y + s.z + s.w) * inv;
    float var = max((q.x + q.y + q.z + q.w) * inv - m * m, 0.0);
    return vec2(m, inversesqrt(var + p.lnEps));
}

void main()
{
    const int batch = int(gl_WorkGroupID.z);
    const int m0 = int(gl_WorkGroupID.y * gl_WorkGroupSize.y + gl_LocalInvocationID.y) * TM;
    const int n0 = int(gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * TN;
    if (m0 >= p.M || n0 >= p.N) return;
    const int K4 = p.K >> 2;

    // Texel indices; rows/columns past the edge are clamped (computed, never stored) so the loop has no branches.
    int aRow[TM];
    float aIn[TM];   // AGATHER: 0 for a padding row
    for (int i = 0; i < TM; i++)
    {
        int m = min(m0 + i, p.M - 1);
        aIn[i] = 1.0;
        if (AGATHER != 0)
        {
            m = window_row(m, p.winH, p.winW, p.ws);
            aIn[i] = m < 0 ? 0.0 : 1.0;
            m = max(m, 0);
        }
        aRow[i] = (p.aOff + batch * p.aBatch + m * p.aM) >> 2;
    }

    float acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0;
    // LNORM: per row the shift s and the sums of d = a − s and d².
    float lnShift[TM];
    vec4 lnS[TM], lnQ[TM];

    if (BMODE == 0)
    {
        int bCol[TN];
        for (int j = 0; j < TN; j++) bCol[j] = (p.bOff + batch * p.bBatch + min(n0 + j, p.N - 1) * p.bN) >> 2;
        if (LNORM != 0)
            for (int i = 0; i < TM; i++)
            {
                lnShift[i] = texelFetch(texA, aRow[i]).x * aIn[i];
                lnS[i] = vec4(0.0);
                lnQ[i] = vec4(0.0);
            }
        for (int k4 = 0; k4 < K4; k4++)
        {
            vec4 av[TM];
            vec4 bv[TN];
            for (int i = 0; i < TM; i++) av[i] = texelFetch(texA, aRow[i] + k4);
            if (AGATHER != 0)
                for (int i = 0; i < TM; i++) av[i] *= aIn[i];
            if (LNORM != 0)
                for (int i = 0; i < TM; i++)
                {
                    av[i] -= lnShift[i];
                    lnS[i] += av[i];
                    lnQ[i] = fma(av[i], av[i], lnQ[i]);
                }
            for (int j = 0; j < TN; j++) bv[j] = texelFetch(texB, bCol[j] + k4);
            for (int i = 0; i < TM; i++)
                for (int j = 0; j < TN; j++)
                {
                    float s = acc[i][j];
                    s = fma(av[i].x, bv[j].x, s);
                    s = fma(av[i].y, bv[j].y, s);
                    s = fma(av[i].z, bv[j].z, s);
                    s = fma(av[i].w, bv[j].w, s);
                    acc[i][j] = s;
                }
        }
        if (LNORM != 0)
            for (int i = 0; i < TM; i++)
            {
                vec2 st = ln_stats(lnS[i], lnQ[i], p.K);
                for (int j = 0; j < TN; j++)
                {
                    int n = min(n0 + j, p.N - 1);
                    acc[i][j] = st.y * (acc[i][j] - st.x * LN_TAB(n)) + LN_TAB(p.N + n);
                }
            }
    }
    else if (BMODE == 2)
    {
        int bCol[TN];
        for (int j = 0; j < TN; j++) bCol[j] = (p.bOff + min(n0 + j, p.N - 1) * p.bN) >> 2;
        // The output width follows from the input's; not pushed, so the push block stays within 128 bytes.
        const int convOW = (p.convW + 2 * p.convPad - KS) / CS + 1;
        int oy[TM], ox[TM];
        for (int i = 0; i < TM; i++)
        {
            int m = min(m0 + i, p.M - 1);
            oy[i] = m / convOW;
            ox[i] = m - oy[i] * convOW;
        }
        for (int tap = 0; tap < KS * KS; tap++)
        {
            const int ky = tap / KS, kx = tap - (tap / KS) * KS;
            // Per row: the texel of channel 0 at this tap, and 0/1 for taps in the zero padding (read clamped).
            int src[TM];
            float inside[TM];
            for (int i = 0; i < TM; i++)
            {
                int iy = oy[i] * CS - p.convPad + ky, ix = ox[i] * CS - p.convPad + kx;
                inside[i] = (iy >= 0 && iy < p.convH && ix >= 0 && ix < p.convW) ? 1.0 : 0.0;
                src[i] = (clamp(iy, 0, p.convH - 1) * p.convW + clamp(ix, 0, p.convW - 1)) * p.convCin4;
            }
            const int kTap = tap * p.convCin4;
            if (LNORM == 0)
            {
                for (int c4 = 0; c4 < p.convCin4; c4++)
                {
                    vec4 av[TM];
                    vec4 bv[TN];
                    for (int i = 0; i < TM; i++) av[i] = texelFetch(texA, src[i] + c4) * inside[i];
                    for (int j = 0; j < TN; j++) bv[j] = texelFetch(texB, bCol[j] + kTap + c4);
                    for (int i = 0; i < TM; i++)
                        for (int j = 0; j < TN; j++)
                        {
                            float s = acc[i][j];
                            s = fma(av[i].x, bv[j].x, s);
                            s = fma(av[i].y, bv[j].y, s);
                            s = fma(av[i].z, bv[j].z, s);
                            s = fma(av[i].w, bv[j].w, s);
                            acc[i][j] = s;
                        }
                }
            }
            else
            {
                // Each tap reads one whole input row, so each tap has its own statistics and partial sum; the
                // conv's zero padding comes after the norm, so a tap outside the map contributes nothing at all.
                float tacc[TM][TN];
                for (int i = 0; i < TM; i++)
                {
                    lnShift[i] = texelFetch(texA, src[i]).x;
                    lnS[i] = vec4(0.0);
                    lnQ[i] = vec4(0.0);
                    for (int j = 0; j < TN; j++) tacc[i][j] = 0.0;
                }
                for (int c4 = 0; c4 < p.convCin4; c4++)
                {
                    vec4 av[TM];
                    vec4 bv[TN];
                    for (int i = 0; i < TM; i++)
                    {
                        av[i] = texelFetch(texA, src[i] + c4) - lnShift[i];
                        lnS[i] += av[i];
                        lnQ[i] = fma(av[i], av[i], lnQ[i]);
                    }
                    for (int j = 0; j < TN; j++) bv[j] = texelFetch(texB, bCol[j] + kTap + c4);
                    for (int i = 0; i < TM; i++)
                        for (int j = 0; j < TN; j++)
                        {
                            float s = tacc[i][j];
                            s = fma(av[i].x, bv[j].x, s);
                            s = fma(av[i].y, bv[j].y, s);
                            s = fma(av[i].z, bv[j].z, s);
                            s = fma(av[i].w, bv[j].w, s);
                            tacc[i][j] = s;
                        }
                }
                for (int i = 0; i < TM; i++)
                {
                    vec2 st = ln_stats(lnS[i], lnQ[i], 4 * p.convCin4);
                    for (int j = 0; j < TN; j++)
                    {
                        int t = tap * p.N + min(n0 + j, p.N - 1);
                        acc[i][j] += inside[i] * (st.y * (tacc[i][j] - st.x * LN_TAB(t)) + LN_TAB(KS * KS * p.N + t));
                    }
                }
            }
        }
    }
    else
    {
        // Rounded up so the array below has a valid size even when this branch is specialised away (TN < 4).
        const int TN4 = (TN + 3) / 4;
        const int bBase = (p.bOff + batch * p.bBatch) >> 2;
        const int bRow4 = p.bK >> 2;
        int bCol[TN4];
        for (int j = 0; j < TN4; j++) bCol[j] = bBase + min((n0 >> 2) + j, (p.N >> 2) - 1);
        for (int k4 = 0; k4 < K4; k4++)
        {
            vec4 av[TM];
            for (int i = 0; i < TM; i++) av[i] = texelFetch(texA, aRow[i] + k4);
            for (int kk = 0; kk < 4; kk++)
            {
                const int row = (4 * k4 + kk) * bRow4;
                for (int j = 0; j < TN4; j++)
                {
                    vec4 bv = texelFetch(texB, row + bCol[j]);
                    for (int i = 0; i < TM; i++)
                    {
                        float a = av[i][kk];
                        acc[i][4 * j + 0] = fma(a, bv.x, acc[i][4 * j + 0]);
                        acc[i][4 * j + 1] = fma(a, bv.y, acc[i][4 * j + 1]);
                        acc[i][4 * j + 2] = fma(a, bv.z, acc[i][4 * j + 2]);
                        acc[i][4 * j + 3] = fma(a, bv.w, acc[i][4 * j + 3]);
                    }
                }
            }
        }
    }

    for (int i = 0; i < TM; i++)
    {
        int m = m0 + i;
        if (m >= p.M) break;
        int row = result_row(m);
        if (row < 0) continue;
        for (int j = 0; j < TN; j++)
        {
            int n = n0 + j;
            if (n >= p.N) break;
            store_result(batch, m, row, n, acc[i][j]);
        }
    }
}
