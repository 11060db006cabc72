using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>Activation buffers of <see cref="LayerNormBlock.Forward"/> for <c>rows</c> rows, shared by every block of one pass.</summary>
internal sealed class BlockScratch(int rows, int width, int mlpWidth)
{
    public readonly float[] Norm = new float[rows * width], Qkv = new float[rows * 3 * width], Attn = new float[rows * width],
        Proj = new float[rows * width], Ff = new float[rows * mlpWidth];
}

/// <summary>
/// One pre-LayerNorm transformer block (ViT, CLIP's towers): <c>X += out(MHA(LN1 X));  X += down(act(up(LN2 X)))</c>.
/// Pointers into the mapped weights.
/// </summary>
internal unsafe readonly struct LayerNormBlock
{
    private readonly float* _norm1, _norm1Bias, _qkvBias, _outBias, _norm2, _norm2Bias, _upBias, _downBias;
    private readonly Half* _qkv, _out, _up, _down;

    public LayerNormBlock(ModelFile file, LayerNormBlockNames names)
    {
        float* F(string n) => (float*)file.GetPointer(n);
        Half* H(string n) => (Half*)file.GetPointer(n);
        _norm1 = F(names.Norm1); _norm1Bias = F(names.Norm1Bias);
        _qkv = H(names.Qkv); _qkvBias = F(names.QkvBias);
        _out = H(names.Out); _outBias = F(names.OutBias);
        _norm2 = F(names.Norm2); _norm2Bias = F(names.Norm2Bias);
        _up = H(names.Up); _upBias = F(names.UpBias);
        _down = H(names.Down); _downBias = F(names.DownBias);
    }

    /// <summary>Runs the block in place on x [n, width].</summary>
    public void Forward(float[] x, int n, int width, int mlpWidth, int heads, string activation, float eps, bool causal, BlockScratch s, WorkerPool pool)
    {
        LayerNorm.Forward(x, new ReadOnlySpan<float>(_norm1, width), new ReadOnlySpan<float>(_norm1Bias, width), eps, s.Norm, n);
        MatMul.Multiply(s.Norm, n, width, _qkv, 3 * width, s.Qkv, pool);
        VectorOps.AddBias(s.Qkv.AsSpan(0, n * 3 * width), n, new ReadOnlySpan<float>(_qkvBias, 3 * width));
        fixed (float* pq = s.Qkv, pa = s.Attn)
            DenseAttention.Forward(pq, n, 3 * width, pq + width, pq + 2 * width, n, 3 * width, heads, width / heads, pa, width, pool, causal);
        MatMul.Multiply(s.Attn, n, width, _out, width, s.Proj, pool);
        VectorOps.AddBias(s.Proj.AsSpan(0, n * width), n, new ReadOnlySpan<float>(_outBias, width));
        VectorOps.Add(x.AsSpan(0, n * width), s.Proj.AsSpan(0, n * width));

        LayerNorm.Forward(x, new ReadOnlySpan<float>(_norm2, width), new ReadOnlySpan<float>(_norm2Bias, width), eps, s.Norm, n);
        MatMul.Multiply(s.Norm, n, width, _up, mlpWidth, s.Ff, pool);
        fixed (float* ff = s.Ff)
        {
            // Bias and activation in one pass per row range, spread over the pool: the MLP's widest tensor.
            var body = new BiasActivationBody { Y = ff, Bias = _upBias, Width = mlpWidth, Rows = n, RowsPerItem = (n + 4 * pool.Threads - 1) / (4 * pool.Threads), Activation = activation };
            pool.For((n + body.RowsPerItem - 1) / body.RowsPerItem, ref body);
        }
        MatMul.Multiply(s.Ff, n, mlpWidth, _down, width, s.Proj, pool);
        VectorOps.AddBias(s.Proj.AsSpan(0, n * width), n, new ReadOnlySpan<float>(_downBias, width));
        VectorOps.Add(x.AsSpan(0, n * width), s.Proj.AsSpan(0, n * width));
    }

    private struct BiasActivationBody : IParallelBody
    {
        public float* Y, Bias;
        public int Width, Rows, RowsPerItem;
        public string Activation;

        public readonly void Invoke(int index)
        {
            int r0 = index * RowsPerItem, rows = Math.Min(RowsPerItem, Rows - r0);
            var y = new Span<float>(Y + (long)r0 * Width, rows * Width);
            VectorOps.AddBias(y, rows, new ReadOnlySpan<float>(Bias, Width));
            VisionActivations.Apply(Activation, y);
        }
    }
}
