namespace SamRealtime.Kernels;

/// <summary>A [H, W] token map cut into ws x ws windows, padded bottom/right: <see cref="Rows"/> partitioned rows.
/// Kernels that take one gather or scatter rows through it (shaders/common.glsl window_row) instead of copying.</summary>
internal readonly record struct WindowGrid(int H, int W, int Ws)
{
    public int Rows => ((H + Ws - 1) / Ws) * ((W + Ws - 1) / Ws) * Ws * Ws;
}
