// The GEMM family's epilogue, one copy for gemm.comp and gemm_texel.comp (the including shader declares p and the
// bias, r and c buffers with the same bindings and push constants): result (m, n) of batch `batch` becomes
//   C[row, col] = act(alpha·acc + bias) + R[row, col]   (or act(alpha·acc + bias + R) with hasResidual 2)
// where (row, col) is (m, n), or the window scatter's row (TinyViT unpartition, padding rows dropped), or the
// depth-to-space scatter of a 2x2 stride-2 transposed conv: row m is input pixel (y, x) of a d2sW-wide map, column
// n = (2·dy + dx)·d2sC + co, and the result lands at output pixel (2y+dy, 2x+dx), channel co. A per-column bias is
// indexed by col (the output channel), so a transposed conv keeps its [Cout] bias. The including shader declares the
// AGATHER specialization constant: when set, the window fields describe A's row gather and C is not scattered.

// Where row m of the result goes, computed once per row of a tile (the window scatter's divisions per element cost
// as much as a short K loop): its output row, or for a depth-to-space scatter the output row of (dy, dx) = (0, 0);
// -1 for a padding row, which is dropped.
int result_row(int m)
{
    if (p.d2sC > 0)
    {
        int y = m / p.d2sW, x = m - y * p.d2sW;
        return 2 * y * (2 * p.d2sW) + 2 * x;
    }
    return p.ws > 0 && AGATHER == 0 ? window_row(m, p.winH, p.winW, p.ws) : m;
}

void store_result(int batch, int m, int row, int n, float acc)
{
    int col = n;
    if (p.d2sC > 0)
    {
        int d = n / p.d2sC;
        col = n - d * p.d2sC;
        row += (d >> 1) * (2 * p.d2sW) + (d & 1);
    }
    float v = p.alpha * acc;
    if (p.biasMode == 1) v += BIAS_AT(batch * p.biasBatch + col);
    else if (p.biasMode == 2) v += BIAS_AT(batch * p.biasBatch + m);
    float res = p.hasResidual != 0 ? RES_AT(p.rOff + batch * p.rBatch + row * p.cM + col * p.cN) : 0.0;
    v = p.hasResidual == 2 ? activate(v + res, p.act) : activate(v, p.act) + res;
    c[p.cOff + batch * p.cBatch + row * p.cM + col * p.cN] = ST(v);
}
