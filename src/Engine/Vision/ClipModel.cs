using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>
/// CLIPModel's dual encoders (architecture <see cref="Architectures.Clip"/>):
/// <code>
/// z_img = normalize(W_v · LN_post(CLS of the vision tower))
/// z_txt = normalize(W_t · LN_final(h at the pooling position)),  h = causal pre-LN blocks over token + position embeddings
/// score = exp(logit_scale) · z_img · z_txt
/// </code>
/// Holds pointers into the mapped weights only.
/// </summary>
internal sealed unsafe class ClipModel
{
    private readonly TextConfig _text;
    private readonly Half* _tokenEmbed, _imageProj, _textProj;
    private readonly float* _posEmbed, _finalNorm, _finalNormBias;
    private readonly LayerNormBlock[] _textBlocks;

    public ClipModel(ModelFile file)
    {
        Config = file.Manifest.Clip!;
        _text = file.Manifest.Text;
        Encoder = new VisionEncoder(file, Config);
        _tokenEmbed = (Half*)file.GetPointer(TensorNames.TextTowerTokenEmbed);
        _posEmbed = (float*)file.GetPointer(TensorNames.TextTowerPosEmbed);
        _finalNorm = (float*)file.GetPointer(TensorNames.TextTowerFinalNorm);
        _finalNormBias = (float*)file.GetPointer(TensorNames.TextTowerFinalNormBias);
        _imageProj = (Half*)file.GetPointer(TensorNames.RetrievalImageProj);
        _textProj = (Half*)file.GetPointer(TensorNames.RetrievalTextProj);
        LogitScale = file.GetSingle(TensorNames.RetrievalLogitScale)[0];
        _textBlocks = new LayerNormBlock[_text.NumLayers];
        for (int i = 0; i < _textBlocks.Length; i++) _textBlocks[i] = new LayerNormBlock(file, TensorNames.TextTowerBlock(i));
    }

    public ClipConfig Config { get; }
    public VisionEncoder Encoder { get; }
    /// <summary>log of the similarity temperature: scores are exp(LogitScale)·cosine.</summary>
    public float LogitScale { get; }

    /// <summary>z_img of one preprocessed image (the crop size).</summary>
    public float[] ImageEmbedding(ReadOnlySpan<float> patches, int grid, WorkerPool pool) =>
        Project(Encoder.PooledClassRow(patches, grid, pool), Config.Vision.HiddenSize, _imageProj, pool);

    /// <summary>z_txt of a token sequence (at most max_position_embeddings ids, checked by the caller).</summary>
    public float[] TextEmbedding(IReadOnlyList<int> ids, WorkerPool pool)
    {
        int d = _text.HiddenSize, pooled = PoolingPosition(ids);
        // the mask is causal, so positions after the pooled one cannot change it
        int n = pooled + 1;
        var x = new float[n * d];
        for (int t = 0; t < n; t++)
        {
            var row = x.AsSpan(t * d, d);
            var embedding = new ReadOnlySpan<Half>(_tokenEmbed + (long)ids[t] * d, d);
            for (int i = 0; i < d; i++) row[i] = (float)embedding[i];
            VectorOps.Add(row, new ReadOnlySpan<float>(_posEmbed + (long)t * d, d));
        }
        var scratch = new BlockScratch(n, d, _text.IntermediateSize);
        float eps = (float)Config.TextLayerNormEps;
        foreach (ref readonly var b in _textBlocks.AsSpan())
            b.Forward(x, n, d, _text.IntermediateSize, _text.NumHeads, _text.HiddenAct, eps, causal: true, scratch, pool);
        var last = new float[d];
        LayerNorm.Forward(x.AsSpan(pooled * d, d), new ReadOnlySpan<float>(_finalNorm, d), new ReadOnlySpan<float>(_finalNormBias, d), eps, last);
        return Project(last, d, _textProj, pool);
    }

    /// <summary>The first position of the pooling token, or of the highest id when the config pools there (original CLIP); 0 when absent, as argmax over no match.</summary>
    public int PoolingPosition(IReadOnlyList<int> ids)
    {
        int best = 0;
        for (int t = 0; t < ids.Count; t++)
        {
            if (Config.PoolingTokenId is int token) { if (ids[t] == token) return t; }
            else if (ids[t] > ids[best]) best = t;
        }
        return best;
    }

    private float[] Project(float[] pooled, int width, Half* projection, WorkerPool pool)
    {
        int e = Config.ProjectionDim;
        var z = new float[e];
        MatMul.Multiply(pooled, 1, width, projection, e, z, pool);
        float norm = MathF.Max(MathF.Sqrt(VectorMath.Dot(z, z)), 1e-12f);
        VectorOps.Scale(z, 1 / norm);
        return z;
    }
}
