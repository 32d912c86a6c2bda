namespace SamRealtime.Kernels;

/// <summary>A GEMM's depth-to-space scatter (shaders/gemm_epilogue.glsl): the result's row m is pixel (y, x) of an
/// [H, W] map and column n = (2·dy + dx)·C + co; it lands on pixel (2y+dy, 2x+dx), channel co of a channels-last
/// [2H·2W, C] map. That is a 2x2 stride-2 transposed convolution written straight to its output layout.</summary>
public readonly record struct DepthToSpace(int H, int W, int C);
