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
        fixed (float* px = x, pn = s.Norm, pq = s.Qkv, pa = s.Attn, pp = s.Proj, pf = s.Ff)
        {
            // The row-wise steps between the matrix products run over the pool too: on one thread they were several per
            // cent of the encoder.
            Rows(pool, RowOp.LayerNorm, px, pn, _norm1, _norm1Bias, n, width, eps);
            MatMul.Multiply(s.Norm, n, width, _qkv, 3 * width, s.Qkv, pool);
            Rows(pool, RowOp.Bias, pq, null, _qkvBias, null, n, 3 * width, eps);
            DenseAttention.Forward(pq, n, 3 * width, pq + width, pq + 2 * width, n, 3 * width, heads, width / heads, pa, width, pool, causal);
            MatMul.Multiply(s.Attn, n, width, _out, width, s.Proj, pool);
            Rows(pool, RowOp.BiasResidual, pp, px, _outBias, null, n, width, eps);

            Rows(pool, RowOp.LayerNorm, px, pn, _norm2, _norm2Bias, n, width, eps);
            MatMul.Multiply(s.Norm, n, width, _up, mlpWidth, s.Ff, pool);
            // Bias and activation in one pass per row range, spread over the pool: the MLP's widest tensor.
            var body = new BiasActivationBody { Y = pf, Bias = _upBias, Width = mlpWidth, Rows = n, RowsPerItem = (n + 4 * pool.Threads - 1) / (4 * pool.Threads), Activation = activation };
            pool.For((n + body.RowsPerItem - 1) / body.RowsPerItem, ref body);
            MatMul.Multiply(s.Ff, n, mlpWidth, _down, width, s.Proj, pool);
            Rows(pool, RowOp.BiasResidual, pp, px, _downBias, null, n, width, eps);
        }
    }

    private enum RowOp { LayerNorm, Bias, BiasResidual }

    /// <summary>
    /// LayerNorm: b = LN(a) with weight w and bias v; Bias: a += w per row; BiasResidual: a += w per row, then b += a.
    /// The same arithmetic per element as the single-threaded calls, split into row ranges.
    /// </summary>
    private static void Rows(WorkerPool pool, RowOp op, float* a, float* b, float* w, float* v, int n, int width, float eps)
    {
        var body = new RowsBody { Op = op, A = a, B = b, W = w, V = v, Width = width, Rows = n, Eps = eps, RowsPerItem = (n + 2 * pool.Threads - 1) / (2 * pool.Threads) };
        pool.For((n + body.RowsPerItem - 1) / body.RowsPerItem, ref body);
    }

    private struct RowsBody : IParallelBody
    {
        public RowOp Op;
        public float* A, B, W, V;
        public int Width, Rows, RowsPerItem;
        public float Eps;

        public readonly void Invoke(int index)
        {
            int r0 = index * RowsPerItem, rows = Math.Min(RowsPerItem, Rows - r0);
            long offset = (long)r0 * Width;
            var a = new Span<float>(A + offset, rows * Width);
            var weight = new ReadOnlySpan<float>(W, Width);
            switch (Op)
            {
                case RowOp.LayerNorm:
                    LayerNorm.Forward(a, weight, new ReadOnlySpan<float>(V, Width), Eps, new Span<float>(B + offset, rows * Width), rows);
                    break;
                case RowOp.Bias:
                    VectorOps.AddBias(a, rows, weight);
                    break;
                case RowOp.BiasResidual:
                    VectorOps.AddBias(a, rows, weight);
                    VectorOps.Add(new Span<float>(B + offset, rows * Width), a);
                    break;
            }
        }
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
