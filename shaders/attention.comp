#version 450
// Fused multi-head attention, flash style: out = softmax(scale * Q*K^T + bias) * V with an online softmax
// (running max and sum), so the nq x nk score matrix never exists in memory.
// Each invocation owns R query rows of one (batch, head) and keeps their q vectors and output accumulators in
// registers while it walks all keys. The lanes of a workgroup are query rows of the same (batch, head), so every
// K/V address is the same across lanes; llvmpipe still loads a storage element lane by lane unless its address is
// built from constants and push constants alone (gallivm's uniform-load test), so the TEXEL variant reads Q/K/V as
// vec4 texels (one gather per four values; 2.5x the storage variant over the encoder's windows). A K/V load costs
// far more than an FMA either way, so R rows per invocation (sharing each load) matter more than lanes. Q, K, V and the output are strided "head views",
// element (b, t, h, d) at off + b*batch + t*tok + h*head + d, so interleaved qkv tensors need no copies.
// KSPLIT > 1 (few query rows, many keys: SAM's token->image) turns the lanes into key partitions instead: every lane
// holds all R rows of the group and walks every KSPLIT-th block of keys, and the partial (max, sum, accumulator)
// triples are merged once through shared memory at the end (the only barrier). Otherwise 7 tokens would leave one
// lane doing all 4096 keys' loads for a single row.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int D = 32;   // head dim; exact, so the d loops unroll
layout(constant_id = 2) const int R = 1;    // query rows per invocation (shares each K/V load between rows)
layout(constant_id = 3) const int BK = 8;   // keys per online-softmax step: one rescale of the accumulator per block
layout(constant_id = 4) const int KSPLIT = 1; // 1, or the workgroup size: lanes split the keys (see above)

#ifdef TEXEL
// Q, K, V as four-wide uniform texel buffers and the bias as a one-wide one (Attention.cs checks every offset and
// stride is a multiple of 4): a storage load whose address is not a constant is a per-lane scalar loop on llvmpipe
// even when every lane asks for the same K/V element, a texel fetch one gather of four values.
layout(binding = 0) uniform samplerBuffer qt;
layout(binding = 1) uniform samplerBuffer kt;
layout(binding = 2) uniform samplerBuffer vt;
layout(binding = 3) uniform samplerBuffer biast;
#define LOADQ(base, c) texelFetch(qt, ((base) >> 2) + (c))
#define LOADK(base, c) texelFetch(kt, ((base) >> 2) + (c))
#define LOADV(base, c) texelFetch(vt, ((base) >> 2) + (c))
#define BIAS(i) texelFetch(biast, i).x
#else
layout(std430, binding = 0) readonly buffer BufQ { STORE_T qb[]; };
layout(std430, binding = 1) readonly buffer BufK { STORE_T kb[]; };
layout(std430, binding = 2) readonly buffer BufV { STORE_T vb[]; };
layout(std430, binding = 3) readonly buffer BufBias { STORE_T biasb[]; };
#define LOADQ(base, c) LOAD4(qb, base, c)
#define LOADK(base, c) LOAD4(kb, base, c)
#define LOADV(base, c) LOAD4(vb, base, c)
#define BIAS(i) LD(biasb[i])
#endif
layout(std430, binding = 4) writeonly buffer BufO { STORE_T ob[]; };

layout(push_constant) uniform P {
    int nq, nk;
    int qOff, qBatch, qTok, qHead;
    int kOff, kBatch, kTok, kHead;
    int vOff, vBatch, vTok, vHead;
    int oOff, oBatch, oTok, oHead;
    int biasBatch;     // elements between the biases of consecutive batch entries; 0 broadcasts
    int hasBias;
    float scale;
} p;

// Head-dim loops run over vec4 chunks: D4 <= 32 iterations get fully unrolled by NIR, so the arrays stay in
// registers. That is also a correctness matter on llvmpipe, which stops an invocation after 65535 loop iterations
// in total: a 128-iteration d loop per key would hit that at a few thousand keys. With every inner loop unrolled only
// the key-block loop counts (nk / (BK*KSPLIT) iterations).
const int D4 = (D + 3) / 4;
const int SH_ROW = D4 * 4 + 2;   // per lane and row: accumulator, running max, running sum
const int SH_SIZE = KSPLIT > 1 ? KSPLIT * R * SH_ROW : 1;
shared float sh[SH_SIZE];

// Components past D (head dims that are not a multiple of 4) read element D-1 so they stay in bounds; q zeroes them.
#define LOAD4(buf, base, c) vec4(LD(buf[(base) + min(4 * (c) + 0, D - 1)]), LD(buf[(base) + min(4 * (c) + 1, D - 1)]), \
                                 LD(buf[(base) + min(4 * (c) + 2, D - 1)]), LD(buf[(base) + min(4 * (c) + 3, D - 1)]))

void storeRow(int base, vec4 o[D4], float inv)
{
    for (int c = 0; c < D4; c++)
        for (int e = 0; e < 4; e++)
            if (4 * c + e < D) ob[base + 4 * c + e] = ST(o[c][e] * inv);
}

void main()
{
    const int h = int(gl_WorkGroupID.y);
    const int b = int(gl_WorkGroupID.z);
    const int wg = int(gl_WorkGroupSize.x);
    const int lid = int(gl_LocalInvocationID.x);
    // Row r of this invocation is row0 + r*rowStep.
    const int row0 = KSPLIT > 1 ? int(gl_WorkGroupID.x) * R : int(gl_WorkGroupID.x) * wg * R + lid;
    const int rowStep = KSPLIT > 1 ? 1 : wg;
    const float NEG_INF = uintBitsToFloat(0xff800000u);

    // Rows past nq are clamped to the last one so control flow stays uniform; they are just not stored.
    int qi[R];
    int biasRow[R];
    vec4 q[R][D4];
    vec4 acc[R][D4];
    float m[R];
    float l[R];
    for (int r = 0; r < R; r++)
    {
        int i = min(row0 + r * rowStep, p.nq - 1);
        qi[r] = i;
        biasRow[r] = b * p.biasBatch + (h * p.nq + i) * p.nk;
        int base = p.qOff + b * p.qBatch + i * p.qTok + h * p.qHead;
        // scale folded into q: (scale*q)·k == scale*(q·k) up to rounding, and saves a multiply per score.
        for (int c = 0; c < D4; c++)
            q[r][c] = LOADQ(base, c) * p.scale * vec4(lessThan(ivec4(4 * c) + ivec4(0, 1, 2, 3), ivec4(D)));
        for (int c = 0; c < D4; c++) acc[r][c] = vec4(0.0);
        // Finite start so that exp(m_old - m_new) is 0, not NaN, before the first key.
        m[r] = -3.0e38;
        l[r] = 0.0;
    }

    const int kBase = p.kOff + b * p.kBatch + h * p.kHead;
    const int vBase = p.vOff + b * p.vBatch + h * p.vHead;

    const int jStart = KSPLIT > 1 ? lid * BK : 0;
    for (int j0 = jStart; j0 < p.nk; j0 += KSPLIT * BK)
    {
        float s[R][BK];
        for (int t = 0; t < BK; t++)
        {
            // Keys past nk reuse the last key and get score -inf, so they add exactly 0.
            int j = min(j0 + t, p.nk - 1);
            vec4 kv[D4];
            for (int c = 0; c < D4; c++) kv[c] = LOADK(kBase + j * p.kTok, c);
            for (int r = 0; r < R; r++)
            {
                vec4 d4 = vec4(0.0);
                for (int c = 0; c < D4; c++) d4 = fma(q[r][c], kv[c], d4);
                float dot = (d4.x + d4.y) + (d4.z + d4.w);
                if (p.hasBias != 0) dot += BIAS(biasRow[r] + j);
                s[r][t] = j0 + t < p.nk ? dot : NEG_INF;
            }
        }
        for (int r = 0; r < R; r++)
        {
            float mb = m[r];
            for (int t = 0; t < BK; t++) mb = max(mb, s[r][t]);
            float corr = exp(m[r] - mb);
            m[r] = mb;
            l[r] *= corr;
            for (int c = 0; c < D4; c++) acc[r][c] *= corr;
        }
        for (int t = 0; t < BK; t++)
        {
            int j = min(j0 + t, p.nk - 1);
            float pr[R];
            for (int r = 0; r < R; r++)
            {
                pr[r] = exp(s[r][t] - m[r]);
                l[r] += pr[r];
            }
            for (int c = 0; c < D4; c++)
            {
                vec4 vv = LOADV(vBase + j * p.vTok, c);
                for (int r = 0; r < R; r++) acc[r][c] = fma(vec4(pr[r]), vv, acc[r][c]);
            }
        }
    }

    if (KSPLIT > 1)
    {
        for (int r = 0; r < R; r++)
        {
            int at = (lid * R + r) * SH_ROW;
            for (int c = 0; c < D4; c++)
                for (int e = 0; e < 4; e++) sh[at + 4 * c + e] = acc[r][c][e];
            sh[at + 4 * D4] = m[r];
            sh[at + 4 * D4 + 1] = l[r];
        }
        barrier();
        // Lane lid merges rows lid, lid + KSPLIT, ...: every partition rescaled to the common max.
        for (int r = lid; r < R; r += KSPLIT)
        {
            if (row0 + r >= p.nq) break;
            float mm = -3.0e38;
            for (int s2 = 0; s2 < KSPLIT; s2++) mm = max(mm, sh[(s2 * R + r) * SH_ROW + 4 * D4]);
            float ll = 0.0;
            vec4 o[D4];
            for (int c = 0; c < D4; c++) o[c] = vec4(0.0);
            for (int s2 = 0; s2 < KSPLIT; s2++)
            {
                int at = (s2 * R + r) * SH_ROW;
                float f = exp(sh[at + 4 * D4] - mm);
                ll += sh[at + 4 * D4 + 1] * f;
                for (int c = 0; c < D4; c++)
                    o[c] = fma(vec4(sh[at + 4 * c], sh[at + 4 * c + 1], sh[at + 4 * c + 2], sh[at + 4 * c + 3]), vec4(f), o[c]);
            }
            // ll is 0 only when every score was -inf (a fully masked row): output 0 rather than NaN.
            storeRow(p.oOff + b * p.oBatch + (row0 + r) * p.oTok + h * p.oHead, o, ll > 0.0 ? 1.0 / ll : 0.0);
        }
        return;
    }

    for (int r = 0; r < R; r++)
    {
        if (row0 + r * rowStep >= p.nq) break;
        storeRow(p.oOff + b * p.oBatch + qi[r] * p.oTok + h * p.oHead, acc[r], l[r] > 0.0 ? 1.0 / l[r] : 0.0);
    }
}
