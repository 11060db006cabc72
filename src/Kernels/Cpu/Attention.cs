using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Causal grouped-query attention over one sequence's FP32 KV cache.</summary>
public static unsafe class Attention
{
    /// <summary>
    /// Attention for <paramref name="tokens"/> query rows at positions startPos .. startPos + tokens − 1 against a cache
    /// that already holds positions 0 .. startPos + tokens − 1.
    /// q and output: [tokens, heads, headDim]; keys/values: [kvHeads, capacity, headDim]. Query head h reads KV head
    /// h / (heads / kvHeads); scale 1/√headDim; FP32 softmax with max subtraction. Parallel over (token, head) pairs.
    /// Score rows live in per-thread scratch owned by the kernel (grown once, then reused), so no buffer is passed in.
    /// </summary>
    public static void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int capacity, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
        => Causal(q, tokens, startPos, keys, values, capacity, heads, kvHeads, headDim, output, pool, Isa.Current);

    internal static void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int capacity, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool, VectorIsa isa)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Guard.NonNegative(tokens, nameof(tokens));
        Guard.NonNegative(startPos, nameof(startPos));
        Guard.Positive(heads, nameof(heads));
        Guard.Positive(kvHeads, nameof(kvHeads));
        Guard.Positive(headDim, nameof(headDim));
        if (heads % kvHeads != 0)
            throw new ArgumentException($"heads ({heads}) must be a multiple of kvHeads ({kvHeads}).", nameof(kvHeads));
        if ((long)startPos + tokens > capacity)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"capacity must be at least startPos + tokens = {(long)startPos + tokens}.");
        Guard.Length(q.Length, (long)tokens * heads * headDim, nameof(q));
        Guard.Length(output.Length, (long)tokens * heads * headDim, nameof(output));
        Guard.AtLeast(keys.Length, (long)kvHeads * capacity * headDim, nameof(keys));
        Guard.AtLeast(values.Length, (long)kvHeads * capacity * headDim, nameof(values));
        if (tokens == 0) return;

        fixed (float* pq = q)
        fixed (float* pk = keys)
        fixed (float* pv = values)
        fixed (float* po = output)
        {
            var body = new Body
            {
                Q = pq, K = pk, V = pv, O = po, StartPos = startPos, Capacity = capacity,
                Heads = heads, Group = heads / kvHeads, HeadDim = headDim, Scale = 1f / MathF.Sqrt(headDim), Isa = isa,
            };
            pool.For(tokens * heads, ref body);
        }
    }

    private struct Body : IParallelBody
    {
        public float* Q, K, V, O;
        public int StartPos, Capacity, Heads, Group, HeadDim;
        public float Scale;
        public VectorIsa Isa;

        public readonly void Invoke(int index)
        {
            switch (Isa)
            {
                case VectorIsa.V512: Row<Simd512, Vector512<float>>(index); break;
                case VectorIsa.V256: Row<Simd256, Vector256<float>>(index); break;
                case VectorIsa.V128: Row<Simd128, Vector128<float>>(index); break;
                default: Row<SimdScalar, float>(index); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Row<TS, TV>(int index) where TS : struct, ISimd<TV> where TV : struct
        {
            int t = index / Heads, h = index % Heads;
            int length = StartPos + t + 1;
            int d = HeadDim;
            long kvBase = (long)(h / Group) * Capacity * d;
            float* q = Q + (long)index * d;
            float* o = O + (long)index * d;
            float* scores = ThreadScratch.Get(ThreadScratch.AttentionScores, length);

            float* k = K + kvBase;
            for (int p = 0; p < length; p++, k += d)
                scores[p] = Dot<TS, TV>(q, k, d) * Scale;
            VectorOps.SoftmaxCore<TS, TV>(scores, length);

            WeightedSum<TS, TV>(scores, V + kvBase, length, d, o);
        }
    }

    /// <summary>o = Σ_p weights[p] · v[p, :] over contiguous rows: the paged sum with one block holding them all.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightedSum<TS, TV>(float* weights, float* v, int length, int d, float* o) where TS : struct, ISimd<TV> where TV : struct
    {
        int block = 0;
        PagedAttention.WeightedSum<TS, TV>(weights, v, &block, 0, Math.Max(1, length), length, d, o);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot<TS, TV>(float* a, float* b, int d) where TS : struct, ISimd<TV> where TV : struct
    {
        TV s0 = TS.Zero, s1 = TS.Zero;
        int i = 0;
        for (; i + 2 * TS.Count <= d; i += 2 * TS.Count)
        {
            s0 = TS.Fma(TS.Load(a + i), TS.Load(b + i), s0);
            s1 = TS.Fma(TS.Load(a + i + TS.Count), TS.Load(b + i + TS.Count), s1);
        }
        if (i + TS.Count <= d)
        {
            s0 = TS.Fma(TS.Load(a + i), TS.Load(b + i), s0);
            i += TS.Count;
        }
        float sum = TS.Sum(TS.Add(s0, s1));
        for (; i < d; i++) sum += a[i] * b[i];
        return sum;
    }
}
