using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Element-wise FP32 helpers for the residual stream and sampling.</summary>
public static unsafe class VectorOps
{
    /// <summary>acc += x (residual add).</summary>
    public static void Add(Span<float> acc, ReadOnlySpan<float> x) => Add(acc, x, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Add(Span<float> acc, ReadOnlySpan<float> x, VectorIsa isa)
    {
        Guard.Length(x.Length, acc.Length, nameof(x));
        fixed (float* a = acc)
        fixed (float* b = x)
        {
            switch (isa)
            {
                case VectorIsa.V512: AddCore<Simd512, Vector512<float>>(a, b, acc.Length); break;
                case VectorIsa.V256: AddCore<Simd256, Vector256<float>>(a, b, acc.Length); break;
                case VectorIsa.V128: AddCore<Simd128, Vector128<float>>(a, b, acc.Length); break;
                default: AddCore<SimdScalar, float>(a, b, acc.Length); break;
            }
        }
    }

    /// <summary>y[t, :] += bias for each of <paramref name="rows"/> rows of length bias.Length.</summary>
    public static void AddBias(Span<float> y, int rows, ReadOnlySpan<float> bias) => AddBias(y, rows, bias, Isa.Current);

    internal static void AddBias(Span<float> y, int rows, ReadOnlySpan<float> bias, VectorIsa isa)
    {
        Guard.NonNegative(rows, nameof(rows));
        Guard.Length(y.Length, (long)rows * bias.Length, nameof(y));
        for (int t = 0; t < rows; t++) Add(y.Slice(t * bias.Length, bias.Length), bias, isa);
    }

    /// <summary>x *= s.</summary>
    public static void Scale(Span<float> x, float s) => ScaleInto(x, s, x, Isa.Current);

    internal static void Scale(Span<float> x, float s, VectorIsa isa) => ScaleInto(x, s, x, isa);

    /// <summary>dst = src · s (src and dst may be the same span).</summary>
    internal static void ScaleInto(ReadOnlySpan<float> src, float s, Span<float> dst) => ScaleInto(src, s, dst, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ScaleInto(ReadOnlySpan<float> src, float s, Span<float> dst, VectorIsa isa)
    {
        Guard.Length(dst.Length, src.Length, nameof(dst));
        fixed (float* a = src)
        fixed (float* b = dst)
        {
            switch (isa)
            {
                case VectorIsa.V512: ScaleCore<Simd512, Vector512<float>>(a, s, b, src.Length); break;
                case VectorIsa.V256: ScaleCore<Simd256, Vector256<float>>(a, s, b, src.Length); break;
                case VectorIsa.V128: ScaleCore<Simd128, Vector128<float>>(a, s, b, src.Length); break;
                default: ScaleCore<SimdScalar, float>(a, s, b, src.Length); break;
            }
        }
    }

    /// <summary>
    /// dst = src · s with each full block of 2·w elements (w the vector width of <paramref name="isa"/>) reordered to its w
    /// even-indexed elements, then its w odd-indexed ones; the tail after the last full block stays in order. The layout
    /// <see cref="ISimd{TVec}.LoadHalfPairsScaled"/> pairs with.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackPairs(float* src, float s, float* dst, int count, VectorIsa isa)
    {
        int i = 0;
        switch (isa)
        {
            case VectorIsa.V512:
            {
                var order = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                var vs = Vector512.Create(s);
                for (; i + 32 <= count; i += 32)
                {
                    var a = Vector512.Shuffle(Vector512.Load(src + i), order);
                    var b = Vector512.Shuffle(Vector512.Load(src + i + 16), order);
                    (Vector512.Create(a.GetLower(), b.GetLower()) * vs).Store(dst + i);
                    (Vector512.Create(a.GetUpper(), b.GetUpper()) * vs).Store(dst + i + 16);
                }
                break;
            }
            case VectorIsa.V256:
            {
                var order = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
                var vs = Vector256.Create(s);
                for (; i + 16 <= count; i += 16)
                {
                    var a = Vector256.Shuffle(Vector256.Load(src + i), order);
                    var b = Vector256.Shuffle(Vector256.Load(src + i + 8), order);
                    (Vector256.Create(a.GetLower(), b.GetLower()) * vs).Store(dst + i);
                    (Vector256.Create(a.GetUpper(), b.GetUpper()) * vs).Store(dst + i + 8);
                }
                break;
            }
            case VectorIsa.V128:
            {
                var order = Vector128.Create(0, 2, 1, 3);
                var vs = Vector128.Create(s);
                for (; i + 8 <= count; i += 8)
                {
                    var a = Vector128.Shuffle(Vector128.Load(src + i), order);
                    var b = Vector128.Shuffle(Vector128.Load(src + i + 4), order);
                    (Vector128.Create(a.GetLower(), b.GetLower()) * vs).Store(dst + i);
                    (Vector128.Create(a.GetUpper(), b.GetUpper()) * vs).Store(dst + i + 4);
                }
                break;
            }
        }
        // Width 1 (scalar): a block of two is already (even, odd).
        for (; i < count; i++) dst[i] = src[i] * s;
    }

    /// <summary>
    /// log Σ exp(x[i]), with max subtraction: the vectorized exp summed in FP32 over chunks of 256 elements, the chunk sums
    /// in FP64, so the relative error of the sum stays near FP32 rounding (≲ 1e-6) for any length. −∞ when every element is −∞.
    /// </summary>
    public static double LogSumExp(ReadOnlySpan<float> x) => LogSumExp(x, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double LogSumExp(ReadOnlySpan<float> x, VectorIsa isa)
    {
        if (x.IsEmpty) return double.NegativeInfinity;
        fixed (float* p = x)
        {
            return isa switch
            {
                VectorIsa.V512 => LogSumExpCore<Simd512, Vector512<float>>(p, x.Length),
                VectorIsa.V256 => LogSumExpCore<Simd256, Vector256<float>>(p, x.Length),
                VectorIsa.V128 => LogSumExpCore<Simd128, Vector128<float>>(p, x.Length),
                _ => LogSumExpCore<SimdScalar, float>(p, x.Length),
            };
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double LogSumExpCore<TS, TV>(float* x, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        const int Chunk = 256;
        float max = MaxCore<TS, TV>(x, count);
        if (float.IsNegativeInfinity(max) || float.IsNaN(max)) return max;
        TV vmax = TS.Broadcast(max);
        double sum = 0;
        int i = 0;
        while (i + TS.Count <= count)
        {
            int end = Math.Min(count - TS.Count, i + Chunk - TS.Count);
            TV vsum = TS.Zero;
            for (; i <= end; i += TS.Count) vsum = TS.Add(vsum, TS.Exp(TS.Subtract(TS.Load(x + i), vmax)));
            sum += TS.Sum(vsum);
        }
        for (; i < count; i++) sum += MathF.Exp(x[i] - max);
        return max + Math.Log(sum);
    }

    /// <summary>Index of the first maximum (NaN elements are never selected unless all comparisons fail, then 0).</summary>
    public static int ArgMax(ReadOnlySpan<float> x) => ArgMax(x, Isa.Current);

    internal static int ArgMax(ReadOnlySpan<float> x, VectorIsa isa)
    {
        if (x.IsEmpty) throw new ArgumentException("x: expected at least one element, got 0.", nameof(x));
        float max = Max(x, isa);
        int index = x.IndexOf(max);
        return index < 0 ? 0 : index;
    }

    /// <summary>In-place softmax in FP32 with max subtraction.</summary>
    public static void Softmax(Span<float> x) => Softmax(x, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Softmax(Span<float> x, VectorIsa isa)
    {
        if (x.IsEmpty) return;
        fixed (float* p = x)
        {
            switch (isa)
            {
                case VectorIsa.V512: SoftmaxCore<Simd512, Vector512<float>>(p, x.Length); break;
                case VectorIsa.V256: SoftmaxCore<Simd256, Vector256<float>>(p, x.Length); break;
                case VectorIsa.V128: SoftmaxCore<Simd128, Vector128<float>>(p, x.Length); break;
                default: SoftmaxCore<SimdScalar, float>(p, x.Length); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Max(ReadOnlySpan<float> x, VectorIsa isa)
    {
        fixed (float* p = x)
        {
            return isa switch
            {
                VectorIsa.V512 => MaxCore<Simd512, Vector512<float>>(p, x.Length),
                VectorIsa.V256 => MaxCore<Simd256, Vector256<float>>(p, x.Length),
                VectorIsa.V128 => MaxCore<Simd128, Vector128<float>>(p, x.Length),
                _ => MaxCore<SimdScalar, float>(p, x.Length),
            };
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void AddCore<TS, TV>(float* acc, float* x, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        int i = 0;
        for (; i + TS.Count <= count; i += TS.Count) TS.Store(TS.Add(TS.Load(acc + i), TS.Load(x + i)), acc + i);
        for (; i < count; i++) acc[i] += x[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ScaleCore<TS, TV>(float* src, float s, float* dst, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        TV vs = TS.Broadcast(s);
        int i = 0;
        for (; i + TS.Count <= count; i += TS.Count) TS.Store(TS.Multiply(TS.Load(src + i), vs), dst + i);
        for (; i < count; i++) dst[i] = src[i] * s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float MaxCore<TS, TV>(float* x, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        float max = float.NegativeInfinity;
        int i = 0;
        if (count >= TS.Count)
        {
            TV m = TS.Broadcast(float.NegativeInfinity);
            for (; i + TS.Count <= count; i += TS.Count) m = TS.Max(m, TS.Load(x + i));
            max = TS.MaxAcross(m);
        }
        for (; i < count; i++) max = MathF.Max(max, x[i]);
        return max;
    }

    /// <summary>Softmax over count floats at x, in place; returns nothing, the sum is folded into the final scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SoftmaxCore<TS, TV>(float* x, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        float max = MaxCore<TS, TV>(x, count);
        TV vmax = TS.Broadcast(max);
        TV vsum = TS.Zero;
        int i = 0;
        for (; i + TS.Count <= count; i += TS.Count)
        {
            TV e = TS.Exp(TS.Subtract(TS.Load(x + i), vmax));
            TS.Store(e, x + i);
            vsum = TS.Add(vsum, e);
        }
        float sum = TS.Sum(vsum);
        for (; i < count; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        ScaleCore<TS, TV>(x, 1f / sum, x, count);
    }
}
