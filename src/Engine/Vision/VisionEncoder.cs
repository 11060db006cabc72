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
    private readonly Half* _patch, _fc1, _fc2;
    private readonly float* _patchBias, _posEmbed, _postNorm, _postNormBias, _fc1Bias, _fc2Bias;
    private readonly float* _classEmbed, _preNorm, _preNormBias; // CLIP (LLaVA) only
    private readonly bool _keepClassRow;
    private readonly Block[] _blocks;

    /// <summary>LLaVA's CLIP tower: class token, pre-LayerNorm, the blocks up to the feature layer, no post-norm, no patch bias.</summary>
    public VisionEncoder(ModelFile file, LlavaConfig llava, int decoderWidth) : this(file, llava.Vision, llava.ProjectorHiddenAct, llava.FeatureLayers, decoderWidth, clip: true)
    {
        _keepClassRow = llava.KeepClassToken;
    }

    public VisionEncoder(ModelFile file, MultimodalConfig mm, int decoderWidth) : this(file, mm.Vision, mm.ProjectorHiddenAct, mm.Vision.NumLayers, decoderWidth, clip: false) { }

    private VisionEncoder(ModelFile file, VisionConfig vision, string projectorAct, int layers, int decoderWidth, bool clip)
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
        else
        {
            _patchBias = F(TensorNames.VisionPatchEmbedBias);
            _postNorm = F(TensorNames.VisionPostNorm);
            _postNormBias = F(TensorNames.VisionPostNormBias);
        }
        _fc1 = H(TensorNames.ProjectorFc1);
        _fc1Bias = F(TensorNames.ProjectorFc1Bias);
        _fc2 = H(TensorNames.ProjectorFc2);
        _fc2Bias = F(TensorNames.ProjectorFc2Bias);
        _blocks = new Block[layers];
        for (int i = 0; i < _blocks.Length; i++)
            _blocks[i] = new Block
            {
                Norm1 = F(TensorNames.VisionNorm1(i)), Norm1Bias = F(TensorNames.VisionNorm1Bias(i)),
                Qkv = H(TensorNames.VisionQkv(i)), QkvBias = F(TensorNames.VisionQkvBias(i)),
                Out = H(TensorNames.VisionAttnOut(i)), OutBias = F(TensorNames.VisionAttnOutBias(i)),
                Norm2 = F(TensorNames.VisionNorm2(i)), Norm2Bias = F(TensorNames.VisionNorm2Bias(i)),
                Up = H(TensorNames.VisionFfnUp(i)), UpBias = F(TensorNames.VisionFfnUpBias(i)),
                Down = H(TensorNames.VisionFfnDown(i)), DownBias = F(TensorNames.VisionFfnDownBias(i)),
            };
    }

    /// <summary>Projected rows V' [grid², D] of one preprocessed image.</summary>
    public float[] Encode(ReadOnlySpan<float> patches, int grid, WorkerPool pool)
    {
        bool cls = _classEmbed != null;
        int patchRows = grid * grid, n = patchRows + (cls ? 1 : 0), dv = _v.HiddenSize, fv = _v.IntermediateSize, heads = _v.NumHeads, hd = dv / heads;
        float eps = (float)_v.LayerNormEps;
        var x = new float[n * dv];
        var norm = new float[n * dv];
        var qkv = new float[n * 3 * dv];
        var attn = new float[n * dv];
        var proj = new float[n * dv];
        var ff = new float[n * fv];

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

        foreach (ref readonly var b in _blocks.AsSpan())
        {
            LayerNorm.Forward(x, new ReadOnlySpan<float>(b.Norm1, dv), new ReadOnlySpan<float>(b.Norm1Bias, dv), eps, norm, n);
            MatMul.Multiply(norm, n, dv, b.Qkv, 3 * dv, qkv, pool);
            VectorOps.AddBias(qkv, n, new ReadOnlySpan<float>(b.QkvBias, 3 * dv));
            fixed (float* pq = qkv, pa = attn)
                DenseAttention.Forward(pq, n, 3 * dv, pq + dv, pq + 2 * dv, n, 3 * dv, heads, hd, pa, dv, pool);
            MatMul.Multiply(attn, n, dv, b.Out, dv, proj, pool);
            VectorOps.AddBias(proj, n, new ReadOnlySpan<float>(b.OutBias, dv));
            VectorOps.Add(x, proj);

            LayerNorm.Forward(x, new ReadOnlySpan<float>(b.Norm2, dv), new ReadOnlySpan<float>(b.Norm2Bias, dv), eps, norm, n);
            MatMul.Multiply(norm, n, dv, b.Up, fv, ff, pool);
            VectorOps.AddBias(ff, n, new ReadOnlySpan<float>(b.UpBias, fv));
            VisionActivations.Apply(_v.HiddenAct, ff);
            MatMul.Multiply(ff, n, fv, b.Down, dv, proj, pool);
            VectorOps.AddBias(proj, n, new ReadOnlySpan<float>(b.DownBias, dv));
            VectorOps.Add(x, proj);
        }
        ReadOnlySpan<float> features = x;
        if (_postNorm != null)
        {
            LayerNorm.Forward(x, new ReadOnlySpan<float>(_postNorm, dv), new ReadOnlySpan<float>(_postNormBias, dv), eps, norm, n);
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

    private struct Block
    {
        public float* Norm1, Norm1Bias, QkvBias, OutBias, Norm2, Norm2Bias, UpBias, DownBias;
        public Half* Qkv, Out, Up, Down;
    }
}
