using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OpenAutoGlm.Engine.Architectures;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine;

/// <summary>Per-request image settings.</summary>
public sealed record ImageRequestOptions
{
    /// <summary>Pins the resolution R of every image (a multiple of the patch size) instead of choosing it from complexity.</summary>
    public int? Resolution { get; init; }
    /// <summary>Decoder limits; null uses <see cref="ImageDecodeLimits.Default"/>.</summary>
    public ImageDecodeLimits? Limits { get; init; }
    /// <summary>Fill unset generation options from the instruction class's preset (default true); the class is reported either way.</summary>
    public bool UseDecodingPreset { get; init; } = true;
}

/// <summary>What preprocessing decided for one image of a request.</summary>
public sealed record ImageReport
{
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required int Resolution { get; init; }
    public required double Complexity { get; init; }
    public required double Confidence { get; init; }
    /// <summary>False when the confidence was below min_image_confidence: the image was treated as missing.</summary>
    public required bool Valid { get; init; }
    /// <summary>Visual rows the image contributed to the fusion layers (0 when not valid).</summary>
    public required int Tokens { get; init; }
}

/// <summary>The instruction class of a prompt and the decoding preset it selects.</summary>
/// <param name="Probabilities">Task-head probabilities per class; null when the keyword rule chose.</param>
public sealed record InstructionChoice(string TaskClass, IReadOnlyList<float>? Probabilities, DecodingPreset? Preset);

public sealed record MultimodalGenerationResult
{
    public required GenerationResult Generation { get; init; }
    public required IReadOnlyList<ImageReport> Images { get; init; }
    /// <summary>No image was usable and the imputer supplied the visual row.</summary>
    public required bool Imputed { get; init; }
    /// <summary>Null when the model has no instruction classes.</summary>
    public required InstructionChoice? Instruction { get; init; }
    /// <summary>The options generation ran with: the caller's, with unset fields filled from the preset.</summary>
    public required GenerationOptions Options { get; init; }
    /// <summary>Preprocessing, vision encoder, projector and cross-attention cache.</summary>
    public required double VisionMs { get; init; }
}

public sealed record MultimodalLogits
{
    public required float[] Logits { get; init; }
    public required IReadOnlyList<ImageReport> Images { get; init; }
    public required bool Imputed { get; init; }
    public required double VisionMs { get; init; }
}

public sealed record ImageEmbedding(float[] Embedding, ImageReport Image);

/// <summary>Where the time of one image goes, for benchmarks.</summary>
/// <param name="EncoderFlops">Matrix-product FLOPs of the vision tower and projector for this image.</param>
public sealed record VisionProfile(int Resolution, int Tokens, double PreprocessMs, double EncoderMs, double EncoderFlops);

public sealed partial class AutoGlmModel
{
    private readonly MultimodalModel? _multimodal;
    private readonly VisionEncoder? _llavaTower;
    private readonly ClipModel? _clip;

    /// <summary>Whether the model has a vision encoder (architectures open_autoglm, llava and clip).</summary>
    public bool SupportsImages => _multimodal is not null || _llavaTower is not null || _clip is not null;

    public MultimodalGenerationResult Generate(string prompt, IReadOnlyList<ImageInput> images, GenerationOptions? options = null,
        ImageRequestOptions? imageOptions = null, Action<GeneratedToken>? onToken = null, CancellationToken cancellationToken = default)
        => Generate(Encode(prompt), images, options, imageOptions, onToken, cancellationToken);

    /// <summary>
    /// Generates with images mixed in through the fusion layers. The prompt's instruction class picks a decoding preset whose
    /// fields fill every option the caller left at its default; options the caller changed always win.
    /// </summary>
    public MultimodalGenerationResult Generate(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images, GenerationOptions? options = null,
        ImageRequestOptions? imageOptions = null, Action<GeneratedToken>? onToken = null, CancellationToken cancellationToken = default)
    {
        var visual = PrepareVisual(promptIds, images, imageOptions);
        var effective = imageOptions?.UseDecodingPreset == false ? options ?? new GenerationOptions() : InstructionPresets.Apply(options, visual.Instruction?.Preset);
        var run = new GenerationRun(this, visual.Ids, effective, visual.Fusion);
        foreach (var token in run.Steps(cancellationToken)) onToken?.Invoke(token);
        return new MultimodalGenerationResult
        {
            Generation = run.Result(), Images = visual.Reports, Imputed = visual.Imputed, Instruction = visual.Instruction,
            Options = effective, VisionMs = visual.VisionMs,
        };
    }

    /// <summary>Streams the tokens of <see cref="Generate(IReadOnlyList{int}, IReadOnlyList{ImageInput}, GenerationOptions?, ImageRequestOptions?, Action{GeneratedToken}?, CancellationToken)"/>.</summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateStreamingAsync(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images,
        GenerationOptions? options = null, ImageRequestOptions? imageOptions = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield(); // image decoding and the forward passes run off the caller's synchronization context
        var visual = PrepareVisual(promptIds, images, imageOptions);
        var effective = imageOptions?.UseDecodingPreset == false ? options ?? new GenerationOptions() : InstructionPresets.Apply(options, visual.Instruction?.Preset);
        var run = new GenerationRun(this, visual.Ids, effective, visual.Fusion);
        foreach (var token in run.Steps(cancellationToken))
            yield return token;
    }

    /// <summary>Logits of the last position (or [ids.Count, V] for every position) with the images fused in.</summary>
    public MultimodalLogits ComputeLogits(IReadOnlyList<int> ids, IReadOnlyList<ImageInput> images, bool allPositions = false, ImageRequestOptions? imageOptions = null)
    {
        var visual = PrepareVisual(ids, images, imageOptions);
        return new MultimodalLogits
        {
            Logits = ComputeLogits(visual.Ids, allPositions, visual.Fusion), Images = visual.Reports, Imputed = visual.Imputed, VisionMs = visual.VisionMs,
        };
    }

    /// <summary>
    /// The instruction class of a prompt: the task head's argmax, or the keyword rule when the model has no task head;
    /// null when the model has no instruction classes (every architecture but open_autoglm).
    /// </summary>
    public InstructionChoice? ClassifyInstruction(IReadOnlyList<int> promptIds)
    {
        ValidateIds(promptIds);
        if (_multimodal is not { } mm) return null;
        var session = RentCpu(1);
        try { return ChooseInstruction(mm, promptIds, mm.MeanEmbedding(promptIds), session.State.Pool); }
        finally { Return(session); }
    }

    /// <summary>z_img = normalize(W_ip · mean of the image's projected rows), for any decodable image (confidence reported beside it).</summary>
    public ImageEmbedding EmbedImage(ImageInput image, ImageRequestOptions? imageOptions = null)
    {
        if (_clip is { } clip)
        {
            // CLIP: normalize(visual_projection · post_layernorm(CLS)) of the resized, centre-cropped image
            var cropped = new ImagePreprocessor(clip.Config, imageOptions?.Limits).Preprocess(image, imageOptions?.Resolution);
            return new ImageEmbedding(WithPool(pool => clip.ImageEmbedding(cropped.Patches, cropped.Grid, pool)), Report(cropped, cropped.Tokens + 1));
        }
        var mm = RequireMultimodal();
        if (!mm.HasRetrieval) throw new InvalidOperationException("This model has no retrieval heads.");
        var pre = new ImagePreprocessor(mm.Config, imageOptions?.Limits).Preprocess(image, imageOptions?.Resolution);
        var session = RentCpu(1);
        try
        {
            var pool = session.State.Pool;
            var rows = mm.Encoder.Encode(pre.Patches, pre.Grid, pool);
            return new ImageEmbedding(mm.ImageEmbedding(rows, pre.Tokens, pool), Report(pre, pre.Tokens));
        }
        finally { Return(session); }
    }

    public float[] EmbedText(string text) => EmbedText(Encode(text));

    /// <summary>
    /// z_txt = normalize(W_tp · mean over tokens of RMSNorm_final(h_L)), the decoder run on the text alone (no fusion, no imputer);
    /// for CLIP, the text tower's state at the pooling position (see <see cref="ClipModel"/>).
    /// </summary>
    public float[] EmbedText(IReadOnlyList<int> ids)
    {
        ValidateIds(ids);
        if (ids.Count == 0) throw new ArgumentException("At least one token id is needed.", nameof(ids));
        if (ids.Count > ContextLength) throw new PromptTooLongException(ids.Count, ContextLength);
        // CLIP: normalize(text_projection · final_layer_norm(h at the pooling position)), the causal text tower
        if (_clip is { } clip) return WithPool(pool => clip.TextEmbedding(ids, pool));
        var mm = RequireMultimodal();
        if (!mm.HasRetrieval) throw new InvalidOperationException("This model has no retrieval heads.");
        var session = RentCpu(ids.Count);
        try
        {
            var state = session.State;
            var sum = new float[Manifest.Text.HiddenSize];
            var buffer = new int[Math.Min(ids.Count, state.MaxTokens)];
            for (int done = 0; done < ids.Count;)
            {
                int n = Math.Min(state.MaxTokens, ids.Count - done);
                for (int i = 0; i < n; i++) buffer[i] = ids[done + i];
                Decoder.Forward(state, session.View, buffer.AsSpan(0, n), allPositions: false);
                // Forward leaves the chunk's last-layer residual stream in X
                mm.AccumulateFinalNormed(state.X, n, sum);
                done += n;
            }
            Kernels.Cpu.VectorOps.Scale(sum, 1f / ids.Count);
            return mm.TextEmbedding(sum, state.Pool);
        }
        finally { Return(session); }
    }

    /// <summary>exp(logit_scale) · z_img · z_txt.</summary>
    public float Similarity(ReadOnlySpan<float> imageEmbedding, ReadOnlySpan<float> textEmbedding)
    {
        float logitScale = _clip?.LogitScale ?? RequireMultimodal().LogitScale;
        if (imageEmbedding.Length != textEmbedding.Length) throw new ArgumentException("The embeddings have different widths.");
        return MathF.Exp(logitScale) * Kernels.Cpu.VectorMath.Dot(imageEmbedding, textEmbedding);
    }

    /// <summary>
    /// Preprocesses and encodes one image, timing each step: decode, statistics, resize and patchify, then the vision tower
    /// and projector (CLIP: the tower and its pooled class row). Any model with a vision encoder.
    /// </summary>
    public VisionProfile ProfileImage(ImageInput image, ImageRequestOptions? imageOptions = null)
    {
        var preprocessor = _clip is { } c ? new ImagePreprocessor(c.Config, imageOptions?.Limits)
            : _llavaTower is not null ? new ImagePreprocessor(Manifest.Llava!, imageOptions?.Limits)
            : new ImagePreprocessor(RequireMultimodal().Config, imageOptions?.Limits);
        var encoder = _clip?.Encoder ?? _llavaTower ?? _multimodal!.Encoder;
        var clock = Stopwatch.StartNew();
        var pre = preprocessor.Preprocess(image, imageOptions?.Resolution);
        double preprocessMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        _ = WithPool(pool => _clip is null ? encoder.Encode(pre.Patches, pre.Grid, pool) : encoder.PooledClassRow(pre.Patches, pre.Grid, pool));
        return new VisionProfile(pre.Resolution, pre.Tokens, preprocessMs, clock.Elapsed.TotalMilliseconds, encoder.MatmulFlops(pre.Grid));
    }

    private MultimodalModel RequireMultimodal() => _multimodal ??
        throw new InvalidOperationException($"The model in '{_file.Directory}' ({Manifest.Architecture}) has no vision encoder; images need an {Weights.Architectures.OpenAutoGlm} model.");

    /// <param name="Ids">The prompt the decoder runs: as given, or with each image placeholder expanded to the image's rows (LLaVA).</param>
    /// <param name="Prefix">How the images enter the KV block hashes of the batch engine; null when nothing is fused.</param>
    internal sealed record VisualRequest(IReadOnlyList<int> Ids, IFusionStep? Fusion, ImageReport[] Reports, bool Imputed, InstructionChoice? Instruction, double VisionMs,
        Serving.ImagePrefixKey? Prefix = null);

    /// <summary>
    /// An image request prepared for the batch engine exactly as <see cref="Generate(IReadOnlyList{int}, IReadOnlyList{ImageInput}, GenerationOptions?, ImageRequestOptions?, Action{GeneratedToken}?, CancellationToken)"/>
    /// prepares it: images encoded, fusion built, and the options filled from the instruction class's preset.
    /// </summary>
    internal (VisualRequest Visual, GenerationOptions Options) PrepareForBatch(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images,
        GenerationOptions? options, ImageRequestOptions? imageOptions)
    {
        var visual = PrepareVisual(promptIds, images, imageOptions);
        var effective = imageOptions?.UseDecodingPreset == false ? options ?? new GenerationOptions() : InstructionPresets.Apply(options, visual.Instruction?.Preset);
        return (visual, effective);
    }

    /// <summary>Preprocesses and encodes the images, imputes when none is usable, and builds the request's cross-attention cache.</summary>
    private VisualRequest PrepareVisual(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images, ImageRequestOptions? imageOptions)
    {
        _ = Decoder; // CLIP: no generation or logits, with or without images
        if (_llavaTower is not null) return PrepareLlava(promptIds, images, imageOptions);
        var mm = RequireMultimodal();
        ArgumentNullException.ThrowIfNull(images);
        ValidateIds(promptIds);
        var clock = Stopwatch.StartNew();
        var pre = new ImagePreprocessor(mm.Config, imageOptions?.Limits).PreprocessAll(images, imageOptions?.Resolution);
        var session = RentCpu(1);
        try
        {
            var pool = session.State.Pool;
            var rows = new List<float[]>();
            var reports = new ImageReport[pre.Length];
            for (int i = 0; i < pre.Length; i++)
            {
                if (pre[i].Valid) rows.Add(mm.Encoder.Encode(pre[i].Patches, pre[i].Grid, pool));
                reports[i] = Report(pre[i], pre[i].Valid ? pre[i].Tokens : 0);
            }
            var mean = mm.MeanEmbedding(promptIds);
            bool imputed = rows.Count == 0 && mm.HasImputer;
            if (imputed) rows.Add(mm.Impute(mean, pool));

            int d = Manifest.Text.HiddenSize, m = rows.Sum(r => r.Length) / d;
            IFusionStep? fusion = null;
            Serving.ImagePrefixKey? prefix = null;
            if (m > 0 && mm.Config.FusionLayers.Length > 0)
            {
                var visual = new float[m * d];
                int offset = 0;
                foreach (var r in rows) { r.CopyTo(visual, offset); offset += r.Length; }
                fusion = new CrossAttentionFusion(mm.FusionWeights, visual, m, Manifest.Text, mm.Config.CrossAttentionHeads, pool);
                prefix = Serving.ImagePrefixKey.ForFusion(visual);
            }
            var instruction = ChooseInstruction(mm, promptIds, mean, pool);
            return new VisualRequest(promptIds, fusion, reports, imputed, instruction, clock.Elapsed.TotalMilliseconds, prefix);
        }
        finally { Return(session); }
    }

    /// <summary>LLaVA: the k-th image placeholder of the prompt becomes the k-th image's projected rows, one position each.</summary>
    private VisualRequest PrepareLlava(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images, ImageRequestOptions? imageOptions)
    {
        ArgumentNullException.ThrowIfNull(images);
        ValidateIds(promptIds);
        var llava = Manifest.Llava!;
        int placeholders = promptIds.Count(id => id == llava.ImageTokenId);
        if (placeholders != images.Count)
            throw new ArgumentException($"The prompt has {placeholders} image placeholder(s) (token {llava.ImageTokenId}) but {images.Count} image(s) were given.", nameof(images));
        var clock = Stopwatch.StartNew();
        var pre = new ImagePreprocessor(llava, imageOptions?.Limits).PreprocessAll(images, imageOptions?.Resolution);
        var session = RentCpu(1);
        try
        {
            var encoded = pre.Select(p => _llavaTower!.Encode(p.Patches, p.Grid, session.State.Pool)).ToArray();
            int d = Manifest.Text.HiddenSize;
            var rows = encoded.SelectMany(e => e).ToArray();
            var ids = new List<int>(promptIds.Count + rows.Length / d);
            var rowAt = new List<int>();
            int image = 0, next = 0;
            foreach (int id in promptIds)
            {
                if (id != llava.ImageTokenId) { ids.Add(id); rowAt.Add(-1); continue; }
                for (int r = 0; r < encoded[image].Length / d; r++) { ids.Add(id); rowAt.Add(next++); }
                image++;
            }
            var reports = pre.Select((p, i) => Report(p, encoded[i].Length / d)).ToArray();
            var fusion = images.Count > 0 ? new TokenInsertion(rows, [.. rowAt], d) : null;
            var prefix = images.Count > 0 ? Serving.ImagePrefixKey.ForInsertion(rows, CollectionsMarshal.AsSpan(rowAt), d) : null;
            return new VisualRequest(ids, fusion, reports, false, null, clock.Elapsed.TotalMilliseconds, prefix);
        }
        finally { Return(session); }
    }

    private static ImageReport Report(PreprocessedImage p, int tokens) => new()
    {
        Width = p.Width, Height = p.Height, Resolution = p.Resolution, Complexity = p.Complexity, Confidence = p.Confidence, Valid = p.Valid, Tokens = tokens,
    };

    /// <summary>
    /// The task head's argmax over ē; without a task head, the keyword rule: the first class whose name (underscores read as
    /// spaces) occurs in the decoded prompt, case-insensitively, else the first class.
    /// </summary>
    private InstructionChoice? ChooseInstruction(MultimodalModel mm, IReadOnlyList<int> promptIds, float[] meanEmbedding, Kernels.Cpu.WorkerPool pool)
    {
        var classes = mm.Config.InstructionClasses;
        if (classes.Length == 0) return null;
        string name;
        float[]? probabilities = null;
        if (mm.Config.HasTaskHead)
        {
            probabilities = mm.ClassProbabilities(meanEmbedding, pool);
            name = classes[Kernels.Cpu.VectorOps.ArgMax(probabilities)];
        }
        else
        {
            string text = Tokenizer is null ? "" : Tokenizer.Decode(promptIds.ToArray());
            name = classes.FirstOrDefault(c => text.Contains(c, StringComparison.OrdinalIgnoreCase)
                || text.Contains(c.Replace('_', ' '), StringComparison.OrdinalIgnoreCase)) ?? classes[0];
        }
        return new InstructionChoice(name, probabilities, mm.Config.DecodingPresets.GetValueOrDefault(name));
    }
}
