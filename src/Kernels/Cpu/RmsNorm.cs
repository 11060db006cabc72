using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>y = weight ⊙ (x / sqrt(mean(x²) + eps)), per row of length weight.Length.</summary>
public static unsafe class RmsNorm
{
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, int rows = 1)
        => Forward(x, weight, eps, y, rows, Isa.Current);

    internal static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, int rows, VectorIsa isa)
    {
        Guard.NonNegative(rows, nameof(rows));
        if (weight.IsEmpty) throw new ArgumentException("weight: expected at least one element, got 0.", nameof(weight));
        Guard.Length(x.Length, (long)rows * weight.Length, nameof(x));
        Guard.Length(y.Length, (long)rows * weight.Length, nameof(y));
        fixed (float* px = x)
        fixed (float* pw = weight)
        fixed (float* py = y)
        {
            switch (isa)
            {
                case VectorIsa.V512: Core<Simd512, Vector512<float>>(px, pw, eps, py, rows, weight.Length); break;
                case VectorIsa.V256: Core<Simd256, Vector256<float>>(px, pw, eps, py, rows, weight.Length); break;
                case VectorIsa.V128: Core<Simd128, Vector128<float>>(px, pw, eps, py, rows, weight.Length); break;
                default: Core<SimdScalar, float>(px, pw, eps, py, rows, weight.Length); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Core<TS, TV>(float* x, float* w, float eps, float* y, int rows, int dim) where TS : struct, ISimd<TV> where TV : struct
    {
        for (int t = 0; t < rows; t++)
        {
            float* xr = x + (long)t * dim;
            float* yr = y + (long)t * dim;
            TV s0 = TS.Zero, s1 = TS.Zero;
            int i = 0;
            for (; i + 2 * TS.Count <= dim; i += 2 * TS.Count)
            {
                TV a = TS.Load(xr + i), b = TS.Load(xr + i + TS.Count);
                s0 = TS.Fma(a, a, s0);
                s1 = TS.Fma(b, b, s1);
            }
            float sum = TS.Sum(TS.Add(s0, s1));
            for (; i < dim; i++) sum += xr[i] * xr[i];
            float inv = 1f / MathF.Sqrt(sum / dim + eps);

            TV vinv = TS.Broadcast(inv);
            i = 0;
            for (; i + TS.Count <= dim; i += TS.Count)
                TS.Store(TS.Multiply(TS.Multiply(TS.Load(xr + i), vinv), TS.Load(w + i)), yr + i);
            for (; i < dim; i++) yr[i] = xr[i] * inv * w[i];
        }
    }
}
