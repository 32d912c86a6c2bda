#version 450
// Batched, strided GEMM with a fused epilogue:
//   C[b](m,n) = act(alpha * sum_k A[b](m,k) * B[b](k,n) + bias) + R[b](m,n)
// Any transpose is a choice of strides. Each invocation owns a TM x TN register tile and reads A and B straight
// from storage buffers: on llvmpipe this beats shared-memory tiling (barriers are coroutine switches there),
// see DESIGN.md. Tile and workgroup sizes are specialization constants picked by Gemm.cs from device limits.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 2) const int TM = 4;
layout(constant_id = 3) const int TN = 4;

layout(std430, binding = 0) readonly buffer BufA { STORE_T a[]; };
layout(std430, binding = 1) readonly buffer BufB { STORE_T b[]; };
layout(std430, binding = 2) readonly buffer BufBias { STORE_T bias[]; };
layout(std430, binding = 3) readonly buffer BufR { STORE_T r[]; };
layout(std430, binding = 4) writeonly buffer BufC { STORE_T c[]; };

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
    int convH, convW, convCin4, convOW, convPad;   // gemm_texel's implicit convolution only; unused here
    int d2sW, d2sC;       // d2sC > 0: depth-to-space scatter (gemm_epilogue.glsl)
    int biasBatch;        // bias offset per batch entry (0: one bias for all)
} p;

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
    for (int i = 0; i < TM; i++) aRow[i] = p.aOff + batch * p.aBatch + min(m0 + i, p.M - 1) * p.aM;
    for (int j = 0; j < TN; j++) bCol[j] = p.bOff + batch * p.bBatch + min(n0 + j, p.N - 1) * p.bN;

    float acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

    for (int k = 0; k < p.K; k++)
    {
        float av[TM];
        float bv[TN];
        for (int i = 0; i < TM; i++) av[i] = LD(a[aRow[i] + k * p.aK]);
        for (int j = 0; j < TN; j++) bv[j] = LD(b[bCol[j] + k * p.bK]);
        for (int i = 0; i < TM; i++)
            for (int j = 0; j < TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }

    for (int i = 0; i < TM; i++)
    {
        int m = m0 + i;
        if (m >= p.M) break;
        for (int j = 0; j < TN; j++)
        {
            int n = n0 + j;
            if (n >= p.N) break;
            store_result(batch, m, n, acc[i][j]);
        }
    }
}
