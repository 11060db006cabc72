using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>
/// The pre-LayerNorm ViT and the projector (ARCHITECTURE.md §2): patches → V' (N × D rows in the decoder's width).
/// <code>
/// X = P·Wpeᵀ + b + PE(g);  per block: X += proj(MHA(LN1 X));  X += fc2(act(fc1(LN2 X)))
/// V' = fc2p(act_p(fc1p(LN_post X)))
/// </code>
/// Weights stay in the memory-mapped file. Activation buffers depend on the image's grid, so they are taken per image.
/// </summary>
internal sealed unsafe class VisionEncoder
{
    private readonly VisionConfig _v;
    private readonly string _projectorAct;
    private readonly int _d;
    private readonly Half* _patch, _fc1, _fc2; // projector null for CLIPModel
    private readonly float* _patchBias, _posEmbed, _postNorm, _postNormBias, _fc1Bias, _fc2Bias;
    private readonly float* _classEmbed, _preNorm, _preNormBias; // CLIP (LLaVA, CLIPModel) only
    private readonly bool _keepClassRow;
    private readonly LayerNormBlock[] _blocks;

    /// <summary>LLaVA's CLIP tower: class token, pre-LayerNorm, the blocks up to the feature layer, no post-norm, no patch bias.</summary>
    public VisionEncoder(ModelFile file, LlavaConfig llava, int decoderWidth)
        : this(file, llava.Vision, llava.ProjectorHiddenAct, llava.FeatureLayers, decoderWidth, clip: true, postNorm: false, projector: true)
    {
        _keepClassRow = llava.KeepClassToken;
    }

    public VisionEncoder(ModelFile file, MultimodalConfig mm, int decoderWidth)
        : this(file, mm.Vision, mm.ProjectorHiddenAct, mm.Vision.NumLayers, decoderWidth, clip: false, postNorm: true, projector: true) { }

    /// <summary>CLIPModel's vision tower: every block and the post-LayerNorm of the class row; no projector (see <see cref="PooledClassRow"/>).</summary>
    public VisionEncoder(ModelFile file, ClipConfig clip)
        : this(file, clip.Vision, "", clip.Vision.NumLayers, decoderWidth: 0, clip: true, postNorm: true, projector: false) { }

    private VisionEncoder(ModelFile file, VisionConfig vision, string projectorAct, int layers, int decoderWidth, bool clip, bool postNorm, bool projector)
    {
        _v = vision;
        _projectorAct = projectorAct;
        _d = decoderWidth;
        Half* H(string n) => (Half*)file.GetPointer(n);
        float* F(string n) => (float*)file.GetPointer(n);
        _patch = H(TensorNames.VisionPatchEmbed);
        _posEmbed = F(TensorNames.VisionPosEmbed);
        if (clip)
        {
            _classEmbed = F(TensorNames.VisionClassEmbed);
            _preNorm = F(TensorNames.VisionPreNorm);
            _preNormBias = F(TensorNames.VisionPreNormBias);
        }
        else _patchBias = F(TensorNames.VisionPatchEmbedBias);
        if (postNorm)
        {
            _postNorm = F(TensorNames.VisionPostNorm);
            _postNormBias = F(TensorNames.VisionPostNormBias);
        }
        if (projector)
        {
            _fc1 = H(TensorNames.ProjectorFc1);
            _fc1Bias = F(TensorNames.ProjectorFc1Bias);
            _fc2 = H(TensorNames.ProjectorFc2);
            _fc2Bias = F(TensorNames.ProjectorFc2Bias);
        }
        _blocks = new LayerNormBlock[layers];
        for (int i = 0; i < _blocks.Length; i++) _blocks[i] = new LayerNormBlock(file, TensorNames.VisionBlock(i));
    }

    /// <summary>Projected rows V' [grid², D] of one preprocessed image.</summary>
    public float[] Encode(ReadOnlySpan<float> patches, int grid, WorkerPool pool)
    {
        if (_fc1 == null) throw new InvalidOperationException("This vision tower has no projector.");
        var x = Tower(patches, grid, pool);
        bool cls = _classEmbed != null;
        int dv = _v.HiddenSize, n = x.Length / dv, patchRows = grid * grid;
        ReadOnlySpan<float> features = x;
        if (_postNorm != null)
        {
            var norm = new float[n * dv];
            LayerNorm.Forward(x, new ReadOnlySpan<float>(_postNorm, dv), new ReadOnlySpan<float>(_postNormBias, dv), (float)_v.LayerNormEps, norm, n);
            features = norm;
        }
        if (cls && !_keepClassRow)
        {
            features = features[dv..];
            n = patchRows;
        }

        var hidden = new float[n * _d];
        MatMul.Multiply(features, n, dv, _fc1, _d, hidden, pool);
        VectorOps.AddBias(hidden, n, new ReadOnlySpan<float>(_fc1Bias, _d));
        VisionActivations.Apply(_projectorAct, hidden);
        var output = new float[n * _d];
        MatMul.Multiply(hidden, n, _d, _fc2, _d, output, pool);
        VectorOps.AddBias(output, n, new ReadOnlySpan<float>(_fc2Bias, _d));
        return output;
    }

    /// <summary>CLIPModel's pooled output [d_v]: the class row after every block, post-LayerNormed.</summary>
    public float[] PooledClassRow(ReadOnlySpan<float> patches, int grid, WorkerPool pool)
    {
        int dv = _v.HiddenSize;
        var x = Tower(patches, grid, pool);
        var pooled = new float[dv];
        LayerNorm.Forward(x.AsSpan(0, dv), new ReadOnlySpan<float>(_postNorm, dv), new ReadOnlySpan<float>(_postNormBias, dv), (float)_v.LayerNormEps, pooled);
        return pooled;
    }

    /// <summary>Matrix-product FLOPs of one image at grid g: patch embedding, every block (attention products included) and the projector.</summary>
    public double MatmulFlops(int grid)
    {
        double patches = (double)grid * grid, n = patches + (_classEmbed != null ? 1 : 0), dv = _v.HiddenSize, fv = _v.IntermediateSize;
        double block = 2 * n * dv * (3 * dv + dv + 2 * fv) + 4 * n * n * dv; // qkv, out, up, down; QKᵀ and AV
        double projectorRows = _classEmbed != null && !_keepClassRow ? patches : n;
        double projector = _fc1 == null ? 0 : 2 * projectorRows * _d * (dv + _d);
        return 2 * patches * _v.PatchValues * dv + _blocks.Length * block + projector;
    }

    /// <summary>Embeddings and every block: the tower's last hidden state [n, d_v] (class row first for CLIP).</summary>
    private float[] Tower(ReadOnlySpan<float> patches, int grid, WorkerPool pool)
    {
        bool cls = _classEmbed != null;
        int patchRows = grid * grid, n = patchRows + (cls ? 1 : 0), dv = _v.HiddenSize;
        float eps = (float)_v.LayerNormEps;
        var x = new float[n * dv];

        var patchPart = x.AsSpan(cls ? dv : 0);
        MatMul.Multiply(patches, patchRows, _v.PatchValues, _patch, dv, patchPart, pool);
        if (_patchBias != null) VectorOps.AddBias(patchPart, patchRows, new ReadOnlySpan<float>(_patchBias, dv));
        if (cls)
        {
            // CLIP: the class row first, and a position table with one row per patch of the fixed grid plus one for it
            if (grid != _v.BaseGrid) throw new ArgumentException($"CLIP needs the {_v.BaseImageSize}×{_v.BaseImageSize} crop, got grid {grid}.");
            new ReadOnlySpan<float>(_classEmbed, dv).CopyTo(x);
            VectorOps.Add(x, new ReadOnlySpan<float>(_posEmbed, n * dv));
            LayerNorm.Forward(x, new ReadOnlySpan<float>(_preNorm, dv), new ReadOnlySpan<float>(_preNormBias, dv), eps, x, n);
        }
        else VectorOps.Add(x, PositionTable(grid));

        var scratch = new BlockScratch(n, dv, _v.IntermediateSize);
        foreach (ref readonly var b in _blocks.AsSpan())
            b.Forward(x, n, dv, _v.IntermediateSize, _v.NumHeads, _v.HiddenAct, eps, causal: false, scratch, pool);
        return x;
    }

    /// <summary>The G×G position table bilinearly resized to g×g (align_corners = false, no antialias), as F.interpolate does.</summary>
    private float[] PositionTable(int g)
    {
        int G = _v.BaseGrid, dv = _v.HiddenSize;
        var table = new ReadOnlySpan<float>(_posEmbed, G * G * dv);
        if (g == G) return table.ToArray();
        var result = new float[g * g * dv];
        Span<int> lo = stackalloc int[g], hi = stackalloc int[g];
        Span<float> frac = stackalloc float[g];
        float scale = (float)G / g;
        for (int i = 0; i < g; i++)
        {
            float src = MathF.Max(scale * (i + 0.5f) - 0.5f, 0f);
            lo[i] = Math.Min((int)src, G - 1);
            hi[i] = Math.Min(lo[i] + 1, G - 1);
            frac[i] = src - lo[i];
        }
        for (int r = 0; r < g; r++)
            for (int c = 0; c < g; c++)
            {
                var dst = result.AsSpan((r * g + c) * dv, dv);
                float wr = frac[r], wc = frac[c];
                VectorMath.AddScaled(dst, table.Slice((lo[r] * G + lo[c]) * dv, dv), (1 - wr) * (1 - wc));
                VectorMath.AddScaled(dst, table.Slice((lo[r] * G + hi[c]) * dv, dv), (1 - wr) * wc);
                VectorMath.AddScaled(dst, table.Slice((hi[r] * G + lo[c]) * dv, dv), wr * (1 - wc));
                VectorMath.AddScaled(dst, table.Slice((hi[r] * G + hi[c]) * dv, dv), wr * wc);
            }
        return result;
    }
}
