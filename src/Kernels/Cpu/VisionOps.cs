using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>LayerNorm over rows of width weight.Length: y = (x − mean)/sqrt(var + eps) · w + b, statistics in FP32.</summary>
public static class LayerNorm
{
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> y, int rows = 1)
    {
        int d = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float mean = VectorMath.Sum(xr) / d;
            float variance = VectorMath.SumSquaredDeviation(xr, mean) / d;
            float inv = 1f / MathF.Sqrt(variance + eps);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vm = Vector256.Create(mean);
                var vi = Vector256.Create(inv);
                for (; i <= d - Vector256<float>.Count; i += Vector256<float>.Count)
                {
                    var v = (Vector256.Create(xr.Slice(i)) - vm) * vi * Vector256.Create(weight.Slice(i)) + Vector256.Create(bias.Slice(i));
                    v.CopyTo(yr.Slice(i));
                }
            }
            for (; i < d; i++) yr[i] = (xr[i] - mean) * inv * weight[i] + bias[i];
        }
    }
}

/// <summary>Activations by config name (gelu = exact erf, gelu_pytorch_tanh, quick_gelu, silu), in place.</summary>
public static class VisionActivations
{
    /// <summary>Applies the config's activation by name, in place, with the vectorized kernels of <see cref="Activations"/>.</summary>
    public static void Apply(string name, Span<float> x)
    {
        switch (name)
        {
            case "gelu": Activations.Gelu(x); break;
            case "gelu_pytorch_tanh": Activations.GeluTanh(x); break;
            case "quick_gelu": Activations.QuickGelu(x); break;
            case "silu": Activations.Silu(x); break;
            default: throw new ArgumentException($"unknown activation '{name}'.", nameof(name));
        }
    }

    public static void Sigmoid(Span<float> x)
    {
        foreach (ref float v in x) v = 1f / (1f + MathF.Exp(-v));
    }
}

/// <summary>Vectorized reductions the vision and fusion code share.</summary>
public static class VectorMath
{
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0;
        float s = 0;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count) acc += Vector512.Create(a.Slice(i)) * Vector512.Create(b.Slice(i));
            s = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count) acc += Vector256.Create(a.Slice(i)) * Vector256.Create(b.Slice(i));
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y += a · x.</summary>
    public static void AddScaled(Span<float> y, ReadOnlySpan<float> x, float a)
    {
        int n = y.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
                (Vector256.Create(y.Slice(i)) + va * Vector256.Create(x.Slice(i))).CopyTo(y.Slice(i));
        }
        for (; i < n; i++) y[i] += a * x[i];
    }

    public static float Sum(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count) acc += Vector256.Create(x.Slice(i));
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) s += x[i];
        return s;
    }

    public static float SumSquaredDeviation(ReadOnlySpan<float> x, float mean)
    {
        int n = x.Length, i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            var vm = Vector256.Create(mean);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count) { var d = Vector256.Create(x.Slice(i)) - vm; acc += d * d; }
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
        return s;
    }
}

/// <summary>
/// Multi-head attention without a KV cache (vision self-attention, fusion cross-attention, CLIP's text tower): every query row
/// sees every key row, or with <c>causal</c> query row t sees key rows 0..t. Rows are strided so packed [q | k | v] buffers are read in place; heads are spread over the pool.
/// </summary>
public static unsafe class DenseAttention
{
    public static void Forward(float* q, int qRows, int qStride, float* k, float* v, int kvRows, int kvStride,
        int heads, int headDim, float* output, int outStride, WorkerPool pool, bool causal = false)
    {
        var body = new HeadBody { Q = q, K = k, V = v, Out = output, QRows = qRows, QStride = qStride, KvRows = kvRows, KvStride = kvStride,
            HeadDim = headDim, OutStride = outStride, Scale = 1f / MathF.Sqrt(headDim), Causal = causal };
        pool.For(heads, ref body);
    }

    private struct HeadBody : IParallelBody
    {
        public float* Q, K, V, Out;
        public int QRows, QStride, KvRows, KvStride, HeadDim, OutStride;
        public float Scale;
        public bool Causal;

        public readonly void Invoke(int h)
        {
            if (KvRows > 0) Tiled(h);
            else
                for (int t = 0; t < QRows; t++) new Span<float>(Out + (long)t * OutStride + h * HeadDim, HeadDim).Clear();
        }

        /// <summary>
        /// S = (scale·Q)Kᵀ and O = softmax(S)·V as FP32 GEMMs that read K and V in place (<see cref="MatMulF32"/>). Every query
        /// row gets the same arithmetic whatever the row count, so a row's output does not depend on how many rows share the
        /// call (fusion in a batch equals fusion alone).
        /// </summary>
        private readonly void Tiled(int h)
        {
            int d = HeadDim, off = h * d;
            float* s = ThreadScratch.Get(ThreadScratch.AttentionScores, (long)QRows * KvRows);
            // S[t, j] = Σ_i (scale · K[j, i]) · Q[t, i]: key rows are the packed side, query rows the broadcast one.
            MatMulF32.Multiply(K + off, KvRows, KvStride, 1, Scale, d, Q + off, QRows, QStride, s, KvRows);
            for (int t = 0; t < QRows; t++)
            {
                int seen = Causal ? Math.Min(t + 1, KvRows) : KvRows;
                VectorOps.Softmax(new Span<float>(s + (long)t * KvRows, seen));
                new Span<float>(s + (long)t * KvRows + seen, KvRows - seen).Clear();
            }
            // O[t, c] = Σ_j V[j, c] · P[t, j]: Vᵀ packed straight from V's rows (its columns are contiguous).
            MatMulF32.Multiply(V + off, d, 1, KvStride, 1f, KvRows, s, QRows, KvRows, Out + off, OutStride);
        }
    }
}
