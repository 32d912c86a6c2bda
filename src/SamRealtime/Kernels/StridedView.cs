using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// A batch of matrices inside a tensor: element (b, i, j) is at Offset + b*BatchStride + i*RowStride + j*ColStride
/// (in elements). Transposing is swapping the two strides, so GEMM needs no transpose flags.
/// </summary>
internal readonly record struct StridedView(GpuTensor Tensor, int Offset, int BatchStride, int RowStride, int ColStride)
{
    /// <summary>Row-major [batch?, rows, cols] starting at <paramref name="offset"/>.</summary>
    public static StridedView RowMajor(GpuTensor t, int rows, int cols, int offset = 0, int batchStride = -1) =>
        new(t, offset, batchStride < 0 ? rows * cols : batchStride, cols, 1);

    public StridedView Transposed() => this with { RowStride = ColStride, ColStride = RowStride };

    /// <summary>Throws unless every element of a batch x rows x cols view lies inside the tensor.</summary>
    internal void Check(string kernel, string what, int batch, int rows, int cols)
    {
        if (Offset < 0 || BatchStride < 0 || RowStride < 0 || ColStride < 0)
            throw new ShapeException($"{kernel}: {what} has a negative offset or stride ({this.Describe()}).");
        long last = Offset + (long)(batch - 1) * BatchStride + (long)(rows - 1) * RowStride + (long)(cols - 1) * ColStride;
        if (last >= Tensor.Length)
            throw new ShapeException($"{kernel}: {what} as {batch}x{rows}x{cols} ({Describe()}) reaches element {last}, " +
                                     $"but tensor '{Tensor.Name}' {Tensor.ShapeText} has {Tensor.Length}.");
    }

    public string Describe() => $"offset {Offset}, strides batch {BatchStride}, row {RowStride}, col {ColStride}";
}
