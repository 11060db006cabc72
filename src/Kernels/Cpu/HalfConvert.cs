using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>FP16 ↔ FP32 conversion. FP16 → FP32 is exact for finite values (Inf/NaN map to large finite values).</summary>
public static unsafe class HalfConvert
{
    /// <summary>dst[i] = (float)src[i]; vectorized via the integer bit trick (no F16C intrinsic in .NET).</summary>
    public static void ToSingle(ReadOnlySpan<Half> src, Span<float> dst) => ToSingle(src, dst, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ToSingle(ReadOnlySpan<Half> src, Span<float> dst, VectorIsa isa)
    {
        Guard.Length(dst.Length, src.Length, nameof(dst));
        fixed (Half* s = src)
        fixed (float* d = dst)
        {
            switch (isa)
            {
                case VectorIsa.V512: ToSingleCore<Simd512, Vector512<float>>(s, d, src.Length); break;
                case VectorIsa.V256: ToSingleCore<Simd256, Vector256<float>>(s, d, src.Length); break;
                case VectorIsa.V128: ToSingleCore<Simd128, Vector128<float>>(s, d, src.Length); break;
                default: ToSingleCore<SimdScalar, float>(s, d, src.Length); break;
            }
        }
    }

    /// <summary>dst[i] = (Half)src[i], round-to-nearest-even (overflow → ±Inf, NaN preserved).</summary>
    public static void ToHalf(ReadOnlySpan<float> src, Span<Half> dst)
    {
        Guard.Length(dst.Length, src.Length, nameof(dst));
        // Not on a hot path (conversion tools, tests); the runtime's cast is exact RNE.
        for (int i = 0; i < src.Length; i++) dst[i] = (Half)src[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ToSingleCore<TS, TV>(Half* src, float* dst, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        int step = 2 * TS.Count;
        TV rebias = TS.Broadcast(HalfBits.Rebias);
        int i = 0;
        for (; i + step <= count; i += step)
        {
            TS.LoadHalvesScaled(src + i, out TV low, out TV high);
            TS.Store(TS.Multiply(low, rebias), dst + i);
            TS.Store(TS.Multiply(high, rebias), dst + i + TS.Count);
        }
        for (; i < count; i++) dst[i] = HalfBits.ToSingle(((ushort*)src)[i]);
    }
}
