using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Rotary position embedding for one position.</summary>
public static unsafe class Rope
{
    /// <summary>
    /// Rotates the first <paramref name="rotaryDim"/> dims of each of <paramref name="heads"/> heads in place; dims
    /// [rotaryDim, headDim) are untouched. cos/sin have length rotaryDim / 2 (θ_i = pos · invFreq[i]).
    /// interleaved = false pairs (i, i + rotaryDim/2) (rotate-half, NeoX); true pairs (2i, 2i + 1) (GLM).
    /// </summary>
    public static void Apply(Span<float> vectors, int heads, int headDim, int rotaryDim, bool interleaved, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
        => Apply(vectors, heads, headDim, rotaryDim, interleaved, cos, sin, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Apply(Span<float> vectors, int heads, int headDim, int rotaryDim, bool interleaved, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, VectorIsa isa)
    {
        Guard.NonNegative(heads, nameof(heads));
        Guard.Positive(headDim, nameof(headDim));
        if (rotaryDim < 0 || rotaryDim > headDim || (rotaryDim & 1) != 0)
            throw new ArgumentOutOfRangeException(nameof(rotaryDim), rotaryDim, $"rotaryDim must be even and in [0, headDim = {headDim}].");
        Guard.Length(vectors.Length, (long)heads * headDim, nameof(vectors));
        Guard.Length(cos.Length, rotaryDim / 2, nameof(cos));
        Guard.Length(sin.Length, rotaryDim / 2, nameof(sin));
        int half = rotaryDim / 2;
        fixed (float* v = vectors)
        fixed (float* c = cos)
        fixed (float* s = sin)
        {
            for (int h = 0; h < heads; h++)
            {
                float* head = v + (long)h * headDim;
                if (interleaved)
                {
                    // Pairs are adjacent; rotary work is tiny next to the projections, so the scalar loop suffices.
                    for (int i = 0; i < half; i++)
                    {
                        float a = head[2 * i], b = head[2 * i + 1];
                        head[2 * i] = a * c[i] - b * s[i];
                        head[2 * i + 1] = b * c[i] + a * s[i];
                    }
                }
                else
                {
                    switch (isa)
                    {
                        case VectorIsa.V512: RotateHalf<Simd512, Vector512<float>>(head, head + half, c, s, half); break;
                        case VectorIsa.V256: RotateHalf<Simd256, Vector256<float>>(head, head + half, c, s, half); break;
                        case VectorIsa.V128: RotateHalf<Simd128, Vector128<float>>(head, head + half, c, s, half); break;
                        default: RotateHalf<SimdScalar, float>(head, head + half, c, s, half); break;
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RotateHalf<TS, TV>(float* lo, float* hi, float* c, float* s, int half) where TS : struct, ISimd<TV> where TV : struct
    {
        int i = 0;
        for (; i + TS.Count <= half; i += TS.Count)
        {
            TV a = TS.Load(lo + i), b = TS.Load(hi + i), vc = TS.Load(c + i), vs = TS.Load(s + i);
            TS.Store(TS.Subtract(TS.Multiply(a, vc), TS.Multiply(b, vs)), lo + i);
            TS.Store(TS.Add(TS.Multiply(b, vc), TS.Multiply(a, vs)), hi + i);
        }
        for (; i < half; i++)
        {
            float a = lo[i], b = hi[i];
            lo[i] = a * c[i] - b * s[i];
            hi[i] = b * c[i] + a * s[i];
        }
    }

    /// <summary>invFreq[i] = θ^(−2i/r) for i &lt; r/2, computed in FP32 like Hugging Face (exponent 2i/r, pow, reciprocal).</summary>
    public static float[] InverseFrequencies(int rotaryDim, double theta)
    {
        if (rotaryDim <= 0 || (rotaryDim & 1) != 0)
            throw new ArgumentOutOfRangeException(nameof(rotaryDim), rotaryDim, "rotaryDim must be positive and even.");
        var inv = new float[rotaryDim / 2];
        float b = (float)theta;
        for (int i = 0; i < inv.Length; i++)
        {
            float exponent = (2 * i) / (float)rotaryDim;
            inv[i] = 1f / MathF.Pow(b, exponent);
        }
        return inv;
    }
}
