using System.Runtime.InteropServices;
using Silk.NET.Vulkan;
using SamRealtime.Engine;
using SamRealtime.Kernels;
using SamRealtime.Vulkan;

namespace SamRealtime.Model;

/// <summary>One prompt of a decoder batch: its sparse points (in the 1024 frame), the row of the chosen logits its
/// output goes to, and its dense prompt — none, logits from the host, or a row of a GPU tensor of chosen logits.</summary>
internal readonly record struct DecodeInput(PromptPoint[] Sparse, int Row, float[]? HostMask = null, int DenseRow = -1)
{
    public int DenseKind => HostMask is not null ? 1 : DenseRow >= 0 ? 2 : 0;
}

/// <summary>
/// The frame pipeline every front end records onto a <see cref="CommandStream"/>: <see cref="Encode"/> (bytes or a
/// GPU buffer → embedding), <see cref="Decode"/> (batched decoder passes with the mask choice on the GPU, into rows
/// of a chosen-logits tensor), <see cref="Render"/> (chosen logits → 8-bit masks at the frame size) and
/// <see cref="ReadResults"/> (copies into a host-visible buffer, read once the stream's work has completed). Nothing
/// here submits or waits: the caller decides where the stream ends, so a frame is one submission (or none of ours,
/// inside a host's command buffer). Per-frame buffers come from <see cref="Buffers"/>, by the stream's lifetime.
/// </summary>
internal sealed class FramePipeline : IDisposable
{
    public const int LowRes = 256, Plane = LowRes * LowRes;

    private readonly GpuContext _ctx;
    private readonly KernelSet _k;
    private readonly TinyVitEncoder _encoder;
    private readonly MaskDecoder _decoder;
    private readonly GpuTensor _input;

    public FrameBuffers Buffers { get; }
    public MaskOutput Output { get; }
    public EmbeddingWarp Warp { get; }
    public DataType Type { get; }

    public FramePipeline(KernelSet kernels, TinyVitEncoder encoder, MaskDecoder decoder, DataType type)
    {
        _ctx = kernels.Context;
        _k = kernels;
        _encoder = encoder;
        _decoder = decoder;
        Type = type;
        Output = new MaskOutput(_ctx);
        Warp = new EmbeddingWarp(_ctx);
        Buffers = new FrameBuffers(_ctx);
        // The preprocessed image only lives between preprocessing and the encoder, which run in one stream at a time.
        _input = encoder.CreateInput();
    }

    /// <summary>The preprocessed input of the last encoded image as [1,3,1024,1024] values, whatever layout the
    /// encoder reads (tools and tests: what ONNX Runtime's encoder is fed).</summary>
    public float[] ReadInput()
    {
        var v = _input.Read();
        return _input.Rank == 2 ? Preprocess.Rgb0ToPlanes(v) : v;
    }

    public static int BytesPerPixel(PixelFormat format) => format is PixelFormat.Rgb8 or PixelFormat.Bgr8 ? 3 : 4;

    /// <summary>The one check of a host frame's geometry, before any GPU work.</summary>
    public static void CheckPixels(long available, int width, int height, int strideBytes, PixelFormat format)
    {
        int bpp = BytesPerPixel(format);
        Limits.CheckImageSize(width, height);
        if ((long)strideBytes < (long)width * bpp) throw new ArgumentException($"Row stride {strideBytes} is less than {width}x{bpp} bytes.");
        if (available < (long)strideBytes * (height - 1) + (long)width * bpp)
            throw new ArgumentException($"Pixel buffer of {available} bytes is too small for {width}x{height} with stride {strideBytes}.");
    }

    /// <summary>Uploads host pixels as part of the stream (no submission of its own) and encodes them.</summary>
    public void Encode(CommandStream cs, ReadOnlySpan<byte> pixels, int width, int height, int strideBytes, PixelFormat format, GpuTensor embedding)
    {
        CheckPixels(pixels.Length, width, height, strideBytes, format);
        long need = Math.Min(pixels.Length, (long)strideBytes * height);
        var buffer = Buffers.Rent(cs, (ulong)((need + 3) / 4 * 4), BufferKind.Device, "frame.pixels");
        cs.Write(buffer, pixels[..(int)need]);
        Encode(cs, buffer, width, height, strideBytes, format, embedding);
    }

    /// <summary>Preprocesses and encodes pixels already on the GPU into <paramref name="embedding"/> [1,256,64,64].</summary>
    public void Encode(CommandStream cs, GpuBuffer pixels, int width, int height, int strideBytes, PixelFormat format, GpuTensor embedding)
    {
        _k.Preprocess.Record(cs, pixels, format, width, height, strideBytes, _input);
        _encoder.Record(cs, _input, embedding);
    }

    /// <summary>Encodes a host's colour image as it will be when the stream runs: copied to a buffer (its layout changed
    /// to TRANSFER_SRC and then to its final layout, with scopes wide enough to hold whatever the host did before).
    /// sRGB-encoded bytes are what SAM was trained on; a copy keeps them encoded whatever a view's format says.</summary>
    public void Encode(CommandStream cs, in HostImage source, GpuTensor embedding)
    {
        int w = source.Width, h = source.Height;
        var all = PipelineStageFlags.AllCommandsBit;
        var pixels = Buffers.Rent(cs, (ulong)w * (ulong)h * 4, BufferKind.Device, "frame.image");
        cs.ImageBarrier(source.Image, source.Layout, ImageLayout.TransferSrcOptimal, all, AccessFlags.MemoryWriteBit,
                        PipelineStageFlags.TransferBit, AccessFlags.TransferReadBit);
        cs.CopyImageToBuffer(source.Image, (uint)w, (uint)h, pixels);
        cs.ImageBarrier(source.Image, ImageLayout.TransferSrcOptimal, source.FinalLayout, PipelineStageFlags.TransferBit, 0,
                        all, AccessFlags.MemoryReadBit | AccessFlags.MemoryWriteBit);
        var format = source.Format is Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb ? PixelFormat.Bgra8 : PixelFormat.Rgba8;
        Encode(cs, pixels, w, h, w * 4, format, embedding);
    }

    /// <summary>Writes a packed mask of the image size (<see cref="Render"/>) into a host's R8 image: its contents are
    /// discarded (UNDEFINED → TRANSFER_DST), then it goes to its final layout with the write visible to every stage.</summary>
    public static void WriteMask(CommandStream cs, GpuBuffer packed, in HostImage mask)
    {
        var all = PipelineStageFlags.AllCommandsBit;
        cs.ImageBarrier(mask.Image, ImageLayout.Undefined, ImageLayout.TransferDstOptimal, all, 0,
                        PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit);
        cs.CopyBufferToImage(packed, mask.Image, (uint)mask.Width, (uint)mask.Height);
        cs.ImageBarrier(mask.Image, ImageLayout.TransferDstOptimal, mask.FinalLayout, PipelineStageFlags.TransferBit,
                        AccessFlags.TransferWriteBit, all, AccessFlags.MemoryReadBit);
    }

    /// <summary>The key frame's embedding moved by <paramref name="cellFlow"/> ([64, 64, 2]: for each embedding cell,
    /// the offset in cells to where its content was on the key frame) into <paramref name="embedding"/>, for a
    /// <paramref name="width"/>x<paramref name="height"/> frame: what an encoder interval runs instead of the
    /// encoder on the frames between two encoded ones.</summary>
    public void WarpEmbedding(CommandStream cs, GpuTensor key, ReadOnlySpan<float> cellFlow, int width, int height, GpuTensor embedding)
    {
        const int side = EmbeddingWarp.Side;
        if (cellFlow.Length != side * side * 2)
            throw new ArgumentException($"Cell flow has {cellFlow.Length} values, expected {side * side * 2} (64x64x2).");
        var (cw, ch) = ImageEmbedding.ValidCells(width, height);
        var flow = Buffers.Rent(cs, side * side * 2 * sizeof(float), BufferKind.Device, "frame.flow");
        cs.Write(flow, MemoryMarshal.AsBytes(cellFlow));
        Warp.Record(cs, key, flow, embedding, 256, cw, ch);
    }

    /// <summary>
    /// Decodes every input on <paramref name="embedding"/>: one batched decoder pass per group of inputs with the
    /// same token count and kind of dense prompt, each followed by the mask choice, which writes input i's output(s)
    /// to rows Row.. of <paramref name="chosen"/> and <paramref name="scores"/> (3 rows each with multimask).
    /// Dense prompts from the GPU are rows of <paramref name="denseSource"/> (fp32 chosen logits, e.g. last frame's).
    /// Groups without a dense prompt start from <paramref name="imageSide"/> when given (this embedding's
    /// <see cref="MaskDecoder.RecordImageSide"/>, complete by the time this stream runs).
    /// </summary>
    public void Decode(CommandStream cs, GpuTensor embedding, IReadOnlyList<DecodeInput> inputs, GpuTensor chosen, GpuTensor scores,
                       bool multimask = false, GpuTensor? denseSource = null, DecoderImageSide? imageSide = null)
    {
        if (inputs.Count == 0) return;
        int rowCount = (int)Math.Min(chosen.Length / Plane, scores.Length);
        foreach (var g in inputs.GroupBy(x => (x.Sparse.Length, x.DenseKind)))
        {
            var items = g.ToArray();
            int batch = items.Length, points = g.Key.Length, T = 5 + points;
            var tokens = Buffers.RentTensor(cs, [batch, T, 256], Type, "frame.tokens");
            Write(cs, tokens, _decoder.Tokens(items.Select(x => x.Sparse).ToArray()));
            var rows = Indices(cs, items.Select(x => x.Row), "frame.rows");
            GpuTensor? dense = null;
            if (g.Key.DenseKind != 0)
            {
                dense = Buffers.RentTensor(cs, [batch, 1, LowRes, LowRes], Type, "frame.dense");
                if (g.Key.DenseKind == 1) Write(cs, dense, items.SelectMany(x => x.HostMask!).ToArray());
                else
                {
                    if (denseSource is null) throw new ArgumentException("Inputs name dense-prompt rows but no source tensor was given.");
                    Output.Gather(cs, denseSource, Indices(cs, items.Select(x => x.DenseRow), "frame.denserows"), dense, batch, Plane);
                }
            }
            var outputs = _decoder.Record(cs, embedding, tokens, batch, T, dense, imageSide);
            Output.Select(cs, outputs.MaskLogits, outputs.Iou, rows, rowCount, chosen, scores, batch, Plane, points, multimask);
        }
    }

    /// <summary>Renders <paramref name="outputs"/> masks of the frame size from chosen logits into a packed byte
    /// buffer (rented for the stream): one plane per output thresholded at 0, or <paramref name="objects"/> planes
    /// per output folded into one mask without overlaps (labels or 255, planes below <paramref name="minScore"/> out).</summary>
    public GpuBuffer Render(CommandStream cs, GpuTensor chosen, GpuTensor scores, GpuTensor? labels, int outputs, int objects,
                            int width, int height, float minScore = float.MinValue)
    {
        var packed = Buffers.Rent(cs, (ulong)outputs * MaskOutput.PackedBytes((long)width * height), BufferKind.Device, "frame.masks");
        ulong rowBytes = Output.RowsBytes(outputs * objects, width);
        var rows = rowBytes > 0 ? Buffers.Rent(cs, rowBytes, BufferKind.Device, "frame.maskrows") : null;
        Output.Render(cs, chosen, labels ?? scores, scores, packed, outputs, objects, width, height, labels is null, minScore, rows);
        return packed;
    }

    /// <summary>Copies the given ranges into one host-visible buffer rented for the stream; read them with
    /// <see cref="ReadBack.Part"/> once the stream's work has completed and before the stream is disposed.</summary>
    public ReadBack ReadResults(CommandStream cs, params ReadOnlySpan<(GpuBuffer Buffer, ulong Bytes)> parts)
    {
        var offsets = new ulong[parts.Length + 1];
        for (int i = 0; i < parts.Length; i++) offsets[i + 1] = offsets[i] + (parts[i].Bytes + 3) / 4 * 4;
        var target = Buffers.Rent(cs, Math.Max(4, offsets[^1]), BufferKind.Readback, "frame.readback");
        for (int i = 0; i < parts.Length; i++)
            if (parts[i].Bytes > 0) cs.Copy(parts[i].Buffer, 0, target, offsets[i], parts[i].Bytes);
        return new ReadBack(target, offsets, parts.ToArray().Select(p => p.Bytes).ToArray());
    }

    /// <summary>An int32 index list in a buffer rented for the stream.</summary>
    public GpuBuffer Indices(CommandStream cs, IEnumerable<int> values, string name)
    {
        var data = values.ToArray();
        var buffer = Buffers.Rent(cs, (ulong)Math.Max(1, data.Length) * 4, BufferKind.Device, name);
        cs.Write(buffer, MemoryMarshal.AsBytes(data.AsSpan()));
        return buffer;
    }

    /// <summary>Writes host floats into a tensor rented for this stream, converted to its storage type.</summary>
    public static void Write(CommandStream cs, GpuTensor dst, float[] data)
    {
        if (data.Length != dst.Length)
            throw new ShapeException($"Tensor '{dst.Name}' {dst.ShapeText} holds {dst.Length} values; {data.Length} were given.");
        if (dst.Type == DataType.F32) cs.Write(dst.Buffer, MemoryMarshal.AsBytes(data.AsSpan()));
        else
        {
            var half = new Half[data.Length];
            for (int i = 0; i < data.Length; i++) half[i] = (Half)data[i];
            cs.Write(dst.Buffer, MemoryMarshal.AsBytes(half.AsSpan()));
        }
    }

    public void Dispose()
    {
        Buffers.Dispose();
        _input.Dispose();
    }
}

/// <summary>Results copied into a host-visible buffer by <see cref="FramePipeline.ReadResults"/>: read once, after
/// the work completed (the read is what counts as bytes read back).</summary>
internal sealed class ReadBack(GpuBuffer buffer, ulong[] offsets, ulong[] sizes)
{
    private byte[]? _data;

    public ReadOnlySpan<byte> Part(int i)
    {
        if (_data is null)
        {
            _data = new byte[offsets[^1]];
            buffer.Read(_data);
        }
        return _data.AsSpan((int)offsets[i], (int)sizes[i]);
    }

    public float[] Floats(int i) => MemoryMarshal.Cast<byte, float>(Part(i)).ToArray();
}
