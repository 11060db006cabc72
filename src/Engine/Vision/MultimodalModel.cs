using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>
/// Everything of a native Open-AutoGLM model beyond the text decoder: vision encoder and projector, fusion weights, and the
/// imputer, retrieval and task heads (ARCHITECTURE.md §2–§6). Holds pointers into the mapped weights only.
/// </summary>
internal sealed unsafe class MultimodalModel
{
    private readonly TextConfig _text;
    private readonly Half* _embedding;
    private readonly float* _outputNorm;
    private readonly Half* _imputer1, _imputer2, _imageProj, _textProj, _taskHead;
    private readonly float* _imputer1Bias, _imputer2Bias, _taskHeadBias;

    public MultimodalModel(ModelFile file)
    {
        Config = file.Manifest.Multimodal!;
        _text = file.Manifest.Text;
        Encoder = new VisionEncoder(file, Config, _text.HiddenSize);
        _embedding = (Half*)file.GetPointer(TensorNames.TokenEmbedding);
        _outputNorm = (float*)file.GetPointer(TensorNames.OutputNorm);
        FusionWeights = new FusionLayerWeights[_text.NumLayers];
        foreach (int l in Config.FusionLayers)
            FusionWeights[l] = new FusionLayerWeights
            {
                Norm = (float*)file.GetPointer(TensorNames.CrossAttnNorm(l)),
                Q = (Half*)file.GetPointer(TensorNames.CrossAttnQ(l)),
                Kv = (Half*)file.GetPointer(TensorNames.CrossAttnKv(l)),
                Out = (Half*)file.GetPointer(TensorNames.CrossAttnOut(l)),
                Gate = (Half*)file.GetPointer(TensorNames.FusionGate(l)),
                GateBias = (float*)file.GetPointer(TensorNames.FusionGateBias(l)),
            };
        if (Config.ImputerWidth > 0)
        {
            _imputer1 = (Half*)file.GetPointer(TensorNames.ImputerFc1);
            _imputer1Bias = (float*)file.GetPointer(TensorNames.ImputerFc1Bias);
            _imputer2 = (Half*)file.GetPointer(TensorNames.ImputerFc2);
            _imputer2Bias = (float*)file.GetPointer(TensorNames.ImputerFc2Bias);
        }
        if (Config.RetrievalWidth > 0)
        {
            _imageProj = (Half*)file.GetPointer(TensorNames.RetrievalImageProj);
            _textProj = (Half*)file.GetPointer(TensorNames.RetrievalTextProj);
            LogitScale = file.GetSingle(TensorNames.RetrievalLogitScale)[0];
        }
        if (Config.HasTaskHead)
        {
            _taskHead = (Half*)file.GetPointer(TensorNames.TaskHead);
            _taskHeadBias = (float*)file.GetPointer(TensorNames.TaskHeadBias);
        }
    }

    public MultimodalConfig Config { get; }
    public VisionEncoder Encoder { get; }
    public FusionLayerWeights[] FusionWeights { get; }
    public bool HasImputer => Config.ImputerWidth > 0;
    public bool HasRetrieval => Config.RetrievalWidth > 0;
    /// <summary>log of the retrieval temperature: scores are exp(LogitScale)·cosine.</summary>
    public float LogitScale { get; }

    /// <summary>ē: the mean of the embedding rows of every prompt id as given (BOS and template tokens included).</summary>
    public float[] MeanEmbedding(IReadOnlyList<int> ids)
    {
        int D = _text.HiddenSize;
        var sum = new double[D];
        foreach (int id in ids)
        {
            var row = _embedding + (long)id * D;
            for (int i = 0; i < D; i++) sum[i] += (float)row[i];
        }
        var mean = new float[D];
        for (int i = 0; i < D; i++) mean[i] = (float)(sum[i] / Math.Max(1, ids.Count));
        return mean;
    }

    /// <summary>v̂ = W2·ReLU(W1·ē + b1) + b2: the stand-in visual row when no image is usable.</summary>
    public float[] Impute(float[] meanEmbedding, WorkerPool pool)
    {
        int D = _text.HiddenSize, di = Config.ImputerWidth;
        var hidden = new float[di];
        MatMul.Multiply(meanEmbedding, 1, D, _imputer1, di, hidden, pool);
        VectorOps.AddBias(hidden, 1, new ReadOnlySpan<float>(_imputer1Bias, di));
        foreach (ref float v in hidden.AsSpan()) v = MathF.Max(v, 0);
        var row = new float[D];
        MatMul.Multiply(hidden, 1, di, _imputer2, D, row, pool);
        VectorOps.AddBias(row, 1, new ReadOnlySpan<float>(_imputer2Bias, D));
        return row;
    }

    /// <summary>softmax(W_c·ē + b_c) over the instruction classes.</summary>
    public float[] ClassProbabilities(float[] meanEmbedding, WorkerPool pool)
    {
        int C = Config.InstructionClasses.Length;
        var p = new float[C];
        MatMul.Multiply(meanEmbedding, 1, _text.HiddenSize, _taskHead, C, p, pool);
        VectorOps.AddBias(p, 1, new ReadOnlySpan<float>(_taskHeadBias, C));
        VectorOps.Softmax(p);
        return p;
    }

    /// <summary>normalize(W_ip · mean of V' rows).</summary>
    public float[] ImageEmbedding(ReadOnlySpan<float> projected, int rows, WorkerPool pool) => Retrieve(MeanRow(projected, rows), _imageProj, pool);

    /// <summary>normalize(W_tp · mean of the final-normed hidden rows), from the last layer's residual stream [rows, D].</summary>
    public float[] TextEmbedding(ReadOnlySpan<float> meanFinalNormed, WorkerPool pool) => Retrieve(meanFinalNormed.ToArray(), _textProj, pool);

    /// <summary>Adds RMSNorm_final of each residual row to <paramref name="sum"/>.</summary>
    public void AccumulateFinalNormed(ReadOnlySpan<float> residual, int rows, Span<float> sum)
    {
        int D = _text.HiddenSize;
        var normed = new float[rows * D];
        RmsNorm.Forward(residual[..(rows * D)], new ReadOnlySpan<float>(_outputNorm, D), (float)_text.RmsNormEps, normed, rows);
        for (int r = 0; r < rows; r++) VectorOps.Add(sum, normed.AsSpan(r * D, D));
    }

    private float[] Retrieve(float[] mean, Half* projection, WorkerPool pool)
    {
        if (!HasRetrieval) throw new InvalidOperationException("This model has no retrieval heads (retrieval.image_proj / retrieval.text_proj).");
        int e = Config.RetrievalWidth;
        var z = new float[e];
        MatMul.Multiply(mean, 1, _text.HiddenSize, projection, e, z, pool);
        float norm = MathF.Max(MathF.Sqrt(VectorMath.Dot(z, z)), 1e-12f);
        VectorOps.Scale(z, 1 / norm);
        return z;
    }

    private float[] MeanRow(ReadOnlySpan<float> rows, int count)
    {
        int D = _text.HiddenSize;
        var mean = new float[D];
        for (int r = 0; r < count; r++) VectorOps.Add(mean, rows.Slice(r * D, D));
        VectorOps.Scale(mean, 1f / count);
        return mean;
    }
}
