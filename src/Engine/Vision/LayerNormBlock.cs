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
            Rows(pool, RowOp.LayerNorm, px, pn, _norm1, _norm1Bias, n, width, eps, null);
            MatMul.Multiply(s.Norm, n, width, _qkv, 3 * width, s.Qkv, pool);
            Rows(pool, RowOp.Bias, pq, null, _qkvBias, null, n, 3 * width, eps, null);
            DenseAttention.Forward(pq, n, 3 * width, pq + width, pq + 2 * width, n, 3 * width, heads, width / heads, pa, width, pool, causal);
            MatMul.Multiply(s.Attn, n, width, _out, width, s.Proj, pool);
            Rows(pool, RowOp.BiasResidual, pp, px, _outBias, null, n, width, eps, null);

            Rows(pool, RowOp.LayerNorm, px, pn, _norm2, _norm2Bias, n, width, eps, null);
            MatMul.Multiply(s.Norm, n, width, _up, mlpWidth, s.Ff, pool);
            // Bias and activation in one pass per row range: the MLP's widest tensor.
            Rows(pool, RowOp.BiasActivation, pf, null, _upBias, null, n, mlpWidth, eps, activation);
            MatMul.Multiply(s.Ff, n, mlpWidth, _down, width, s.Proj, pool);
            Rows(pool, RowOp.BiasResidual, pp, px, _downBias, null, n, width, eps, null);
        }
    }

    private enum RowOp { LayerNorm, Bias, BiasResidual, BiasActivation }

    /// <summary>
    /// LayerNorm: b = LN(a) with weight w and bias v; Bias: a += w per row; BiasResidual: a += w per row, then b += a;
    /// BiasActivation: a = act(a + w) per row.
    /// The same arithmetic per element as the single-threaded calls, split into row ranges.
    /// </summary>
    private static void Rows(WorkerPool pool, RowOp op, float* a, float* b, float* w, float* v, int n, int width, float eps, string? activation)
    {
        var body = new RowsBody { Op = op, A = a, B = b, W = w, V = v, Width = width, Rows = n, Eps = eps, Activation = activation, RowsPerItem = (n + 2 * pool.Threads - 1) / (2 * pool.Threads) };
        pool.For((n + body.RowsPerItem - 1) / body.RowsPerItem, ref body);
    }

    private struct RowsBody : IParallelBody
    {
        public RowOp Op;
        public float* A, B, W, V;
        public int Width, Rows, RowsPerItem;
        public float Eps;
        public string? Activation;

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
                case RowOp.BiasActivation:
                    VectorOps.AddBias(a, rows, weight);
                    VisionActivations.Apply(Activation!, a);
                    break;
            }
        }
    }
}
