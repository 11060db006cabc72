using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Activation functions, in place unless noted. Sigmoid-shaped ones share x / (1 + exp(−a(x))).</summary>
public static unsafe class Activations
{
    /// <summary>output[t, i] = silu(gateUp[t, i]) · gateUp[t, inter + i]; gateUp is [rows, 2·inter], gate half first.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gateUp, int rows, int inter, Span<float> output) => SwiGlu(gateUp, rows, inter, output, Isa.Current);

    internal static void SwiGlu(ReadOnlySpan<float> gateUp, int rows, int inter, Span<float> output, VectorIsa isa)
    {
        Guard.NonNegative(rows, nameof(rows));
        Guard.Positive(inter, nameof(inter));
        Guard.Length(gateUp.Length, 2L * rows * inter, nameof(gateUp));
        Guard.Length(output.Length, (long)rows * inter, nameof(output));
        fixed (float* g = gateUp)
        fixed (float* o = output)
        {
            for (int t = 0; t < rows; t++)
            {
                float* gate = g + 2L * t * inter, up = gate + inter, dst = o + (long)t * inter;
                switch (isa)
                {
                    case VectorIsa.V512: SwiGluCore<Simd512, Vector512<float>>(gate, up, dst, inter); break;
                    case VectorIsa.V256: SwiGluCore<Simd256, Vector256<float>>(gate, up, dst, inter); break;
                    case VectorIsa.V128: SwiGluCore<Simd128, Vector128<float>>(gate, up, dst, inter); break;
                    default: SwiGluCore<SimdScalar, float>(gate, up, dst, inter); break;
                }
            }
        }
    }

    /// <summary>x = x · sigmoid(x).</summary>
    public static void Silu(Span<float> x) => Gate<SiluArg>(x, Isa.Current);

    /// <summary>x = x · sigmoid(1.702 x).</summary>
    public static void QuickGelu(Span<float> x) => Gate<QuickGeluArg>(x, Isa.Current);

    /// <summary>x = 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))), evaluated as x · sigmoid(2 · √(2/π)(x + 0.044715 x³)).</summary>
    public static void GeluTanh(Span<float> x) => Gate<GeluTanhArg>(x, Isa.Current);

    internal static void Silu(Span<float> x, VectorIsa isa) => Gate<SiluArg>(x, isa);
    internal static void QuickGelu(Span<float> x, VectorIsa isa) => Gate<QuickGeluArg>(x, isa);
    internal static void GeluTanh(Span<float> x, VectorIsa isa) => Gate<GeluTanhArg>(x, isa);

    /// <summary>x = 0.5 x (1 + erf(x / √2)), erf from Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7).</summary>
    public static void Gelu(Span<float> x) => Gelu(x, Isa.Current);

    internal static void Gelu(Span<float> x, VectorIsa isa)
    {
        fixed (float* p = x)
        {
            switch (isa)
            {
                case VectorIsa.V512: GeluCore<Simd512, Vector512<float>>(p, x.Length); break;
                case VectorIsa.V256: GeluCore<Simd256, Vector256<float>>(p, x.Length); break;
                case VectorIsa.V128: GeluCore<Simd128, Vector128<float>>(p, x.Length); break;
                default: GeluCore<SimdScalar, float>(p, x.Length); break;
            }
        }
    }

    // gelu(v) = 0.5 v + 0.5 |v| (1 − erfc(|v|/√2)), with erfc(z) = poly(t) · e^(−z²), t = 1 / (1 + 0.3275911 z): one form for both signs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GeluCore<TS, TV>(float* x, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        TV half = TS.Broadcast(0.5f), one = TS.Broadcast(1f), zero = TS.Zero, invSqrt2 = TS.Broadcast(0.70710678118654752f);
        TV p = TS.Broadcast(0.3275911f), a1 = TS.Broadcast(0.254829592f), a2 = TS.Broadcast(-0.284496736f),
           a3 = TS.Broadcast(1.421413741f), a4 = TS.Broadcast(-1.453152027f), a5 = TS.Broadcast(1.061405429f);
        int i = 0;
        for (; i + TS.Count <= count; i += TS.Count)
        {
            TV v = TS.Load(x + i);
            TV abs = TS.Max(v, TS.Subtract(zero, v));
            TV z = TS.Multiply(abs, invSqrt2);
            TV t = TS.Divide(one, TS.Fma(p, z, one));
            TV poly = TS.Multiply(t, TS.Fma(t, TS.Fma(t, TS.Fma(t, TS.Fma(t, a5, a4), a3), a2), a1));
            TV erfc = TS.Multiply(poly, TS.Exp(TS.Subtract(zero, TS.Multiply(z, z))));
            TS.Store(TS.Fma(TS.Multiply(half, abs), TS.Subtract(one, erfc), TS.Multiply(half, v)), x + i);
        }
        for (; i < count; i++)
        {
            float v = x[i];
            float z = MathF.Abs(v) * 0.70710678118654752f;
            float t = 1f / (1f + 0.3275911f * z);
            float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
            float erfcAbs = poly * MathF.Exp(-z * z);  // 1 − erf(|z|)
            x[i] = v >= 0 ? v - 0.5f * v * erfcAbs : 0.5f * v * erfcAbs;
        }
    }

    private interface IGateArgument
    {
        /// <summary>The sigmoid's argument a(x).</summary>
        static abstract TV Of<TS, TV>(TV x) where TS : struct, ISimd<TV> where TV : struct;
        static abstract float Of(float x);
    }

    private struct SiluArg : IGateArgument
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Of<TS, TV>(TV x) where TS : struct, ISimd<TV> where TV : struct => x;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Of(float x) => x;
    }

    private struct QuickGeluArg : IGateArgument
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Of<TS, TV>(TV x) where TS : struct, ISimd<TV> where TV : struct => TS.Multiply(x, TS.Broadcast(1.702f));
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Of(float x) => 1.702f * x;
    }

    private struct GeluTanhArg : IGateArgument
    {
        private const float C1 = 1.5957691216057308f;           // 2·√(2/π)
        private const float C3 = 1.5957691216057308f * 0.044715f;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Of<TS, TV>(TV x) where TS : struct, ISimd<TV> where TV : struct
            => TS.Multiply(x, TS.Fma(TS.Multiply(x, x), TS.Broadcast(C3), TS.Broadcast(C1)));
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Of(float x) => x * (C1 + C3 * x * x);
    }

    private static void Gate<TArg>(Span<float> x, VectorIsa isa) where TArg : struct, IGateArgument
    {
        fixed (float* p = x)
        {
            switch (isa)
            {
                case VectorIsa.V512: GateCore<TArg, Simd512, Vector512<float>>(p, x.Length); break;
                case VectorIsa.V256: GateCore<TArg, Simd256, Vector256<float>>(p, x.Length); break;
                case VectorIsa.V128: GateCore<TArg, Simd128, Vector128<float>>(p, x.Length); break;
                default: GateCore<TArg, SimdScalar, float>(p, x.Length); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GateCore<TArg, TS, TV>(float* x, int count) where TArg : struct, IGateArgument where TS : struct, ISimd<TV> where TV : struct
    {
        TV one = TS.Broadcast(1f);
        TV zero = TS.Zero;
        int i = 0;
        for (; i + TS.Count <= count; i += TS.Count)
        {
            TV v = TS.Load(x + i);
            // x / (1 + e^(−a)): large negative a gives x / ∞ = ∓0, large positive gives x.
            TS.Store(TS.Divide(v, TS.Add(one, TS.Exp(TS.Subtract(zero, TArg.Of<TS, TV>(v))))), x + i);
        }
        for (; i < count; i++) x[i] = x[i] / (1f + MathF.Exp(-TArg.Of(x[i])));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SwiGluCore<TS, TV>(float* gate, float* up, float* dst, int count) where TS : struct, ISimd<TV> where TV : struct
    {
        TV one = TS.Broadcast(1f);
        TV zero = TS.Zero;
        int i = 0;
        for (; i + TS.Count <= count; i += TS.Count)
        {
            TV g = TS.Load(gate + i);
            TS.Store(TS.Divide(TS.Multiply(g, TS.Load(up + i)), TS.Add(one, TS.Exp(TS.Subtract(zero, g)))), dst + i);
        }
        for (; i < count; i++) dst[i] = gate[i] * up[i] / (1f + MathF.Exp(-gate[i]));
    }
}
