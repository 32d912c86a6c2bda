#version 450
// Batched, strided GEMM with a fused epilogue:
//   C[b](m,n) = act(alpha * sum_k A[b](m,k) * B[b](k,n) + bias) + R[b](m,n)
// Any transpose is a choice of strides. Each invocation owns a TM x TN register tile and reads A and B straight
// from storage buffers: on llvmpipe this beats shared-memory tiling (barriers are coroutine switches there),
// see DESIGN.md. Tile and workgroup sizes are specialization constants picked by Gemm.cs from device limits.
// LNORM and AGATHER as in gemm_texel.comp (a LayerNorm prologue over A's rows folded into B and lnTab, and A's rows
// gathered out of TinyViT windows); the statistics are kept in four lanes by k mod 4 and summed in gemm_texel's
// order, so the two shaders still agree bit for bit when K is a multiple of 4.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 2) const int TM = 4;
layout(constant_id = 3) const int TN = 4;
layout(constant_id = 4) const int LNORM = 0;
layout(constant_id = 5) const int AGATHER = 0;
// CONVK > 0: B is not a matrix but an NCHW input [batch, Cin, convH, convW], read as its im2col unfolding for a
// CONVK x CONVK conv of stride CONVS: B(k, n) = x[ci][oy·S − pad + ky][ox·S − pad + kx] (zero outside) with
// k = (ci·K + ky)·K + kx, n = oy·OW + ox. The same values in the same k order as im2col.comp, so the result is what
// im2col + this shader gave, without writing and re-reading the unfolded copy (K·OH·OW values) or a second dispatch.
layout(constant_id = 6) const int CONVK = 0;
layout(constant_id = 7) const int CONVS = 1;

layout(std430, binding = 0) readonly buffer BufA { STORE_T a[]; };
layout(std430, binding = 1) readonly buffer BufB { STORE_T b[]; };
layout(std430, binding = 2) readonly buffer BufBias { STORE_T bias[]; };
layout(std430, binding = 3) readonly buffer BufR { STORE_T r[]; };
layout(std430, binding = 4) writeonly buffer BufC { STORE_T c[]; };
layout(std430, binding = 5) readonly buffer BufLn { float lnTab[]; };   // LNORM: [N] column sums of B, [N] β·W

layout(push_constant) uniform P {
    int M, N, K;
    int aOff, aBatch, aM, aK;
    int bOff, bBatch, bK, bN;
    int cOff, cBatch, cM, cN;
    int rOff, rBatch;      // residual uses C's row/column strides
    int biasMode;          // 0 none, 1 per column n, 2 per row m
    int act;
    int hasResidual;      // 1: added after the activation, 2: added before it (MBConv's act(x + f(x)))
    float alpha;
    int winH, winW, ws;   // ws > 0: row m of the result is row window_row(m) of C and R, padding rows dropped
    int convH, convW, convC, convPad;   // CONVK > 0: B's input map (gemm_texel reads convC as Cin/4)
    int d2sW, d2sC;       // d2sC > 0: depth-to-space scatter (gemm_epilogue.glsl)
    int biasBatch;        // bias offset per batch entry (0: one bias for all)
    float lnEps;          // LNORM only
} p;

#define BIAS_AT(i) LD(bias[i])
#define RES_AT(i) LD(r[i])
#include "gemm_epilogue.glsl"

void main()
{
    const int batch = int(gl_WorkGroupID.z);
    const int m0 = int(gl_WorkGroupID.y * gl_WorkGroupSize.y + gl_LocalInvocationID.y) * TM;
    const int n0 = int(gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * TN;
    if (m0 >= p.M || n0 >= p.N) return;

    // Rows/columns past the edge are clamped to the last valid one so the inner loop needs no branches;
    // their results are simply not stored.
    int aRow[TM];
    int bCol[TN];
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
        aRow[i] = p.aOff + batch * p.aBatch + m * p.aM;
    }
    for (int j = 0; j < TN; j++) bCol[j] = p.bOff + batch * p.bBatch + min(n0 + j, p.N - 1) * p.bN;
    // CONVK: each column's top-left input pixel; bCol is unused.
    int bY[TN], bX[TN];
    if (CONVK != 0)
    {
        const int ow = (p.convW + 2 * p.convPad - CONVK) / CONVS + 1;
        for (int j = 0; j < TN; j++)
        {
            int n = min(n0 + j, p.N - 1);
            int oy = n / ow;
            bY[j] = oy * CONVS - p.convPad;
            bX[j] = (n - oy * ow) * CONVS - p.convPad;
        }
    }

    float acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

    float lnShift[TM];
    vec4 lnS[TM], lnQ[TM];
    if (LNORM != 0)
        for (int i = 0; i < TM; i++)
        {
            lnShift[i] = LD(a[aRow[i]]) * aIn[i];
            lnS[i] = vec4(0.0);
            lnQ[i] = vec4(0.0);
        }

    for (int k = 0; k < p.K; k++)
    {
        float av[TM];
        float bv[TN];
        for (int i = 0; i < TM; i++) av[i] = LD(a[aRow[i] + k * p.aK]);
        if (AGATHER != 0)
            for (int i = 0; i < TM; i++) av[i] *= aIn[i];
        if (LNORM != 0)
            for (int i = 0; i < TM; i++)
            {
                av[i] -= lnShift[i];
                lnS[i][k & 3] += av[i];
                lnQ[i][k & 3] = fma(av[i], av[i], lnQ[i][k & 3]);
            }
        if (CONVK != 0)
        {
            const int ci = k / (CONVK * CONVK), t = k - ci * (CONVK * CONVK);
            const int ky = t / CONVK, kx = t - (t / CONVK) * CONVK;
            const int plane = p.bOff + batch * p.bBatch + ci * p.convH * p.convW;
            for (int j = 0; j < TN; j++)
            {
                int iy = bY[j] + ky, ix = bX[j] + kx;
                float inside = (iy >= 0 && iy < p.convH && ix >= 0 && ix < p.convW) ? 1.0 : 0.0;
                bv[j] = LD(b[plane + clamp(iy, 0, p.convH - 1) * p.convW + clamp(ix, 0, p.convW - 1)]) * inside;
            }
        }
        else
            for (int j = 0; j < TN; j++) bv[j] = LD(b[bCol[j] + k * p.bK]);
        for (int i = 0; i < TM; i++)
            for (int j = 0; j < TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }

    if (LNORM != 0)
        for (int i = 0; i < TM; i++)
        {
            float inv = 1.0 / float(p.K);
            float mu = (lnS[i].x + lnS[i].y + lnS[i].z + lnS[i].w) * inv;
            float var = max((lnQ[i].x + lnQ[i].y + lnQ[i].z + lnQ[i].w) * inv - mu * mu, 0.0);
            float rstd = inversesqrt(var + p.lnEps);
            for (int j = 0; j < TN; j++)
            {
                int n = min(n0 + j, p.N - 1);
                acc[i][j] = rstd * (acc[i][j] - mu * lnTab[n]) + lnTab[p.N + n];
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
