using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// Vector operations abstracted over width, so one generic kernel body compiles (per struct instantiation, fully
/// inlined) to Vector512, Vector256, Vector128 or scalar code.
/// </summary>
internal unsafe interface ISimd<TVec> where TVec : struct
{
    static abstract int Count { get; }
    static abstract TVec Zero { get; }
    static abstract TVec Broadcast(float value);
    static abstract TVec Load(float* p);
    static abstract void Store(TVec v, float* p);
    static abstract TVec Add(TVec a, TVec b);
    static abstract TVec Subtract(TVec a, TVec b);
    static abstract TVec Multiply(TVec a, TVec b);
    static abstract TVec Divide(TVec a, TVec b);
    /// <summary>a · b + c.</summary>
    static abstract TVec Fma(TVec a, TVec b, TVec c);
    static abstract TVec Max(TVec a, TVec b);
    static abstract TVec Exp(TVec a);
    static abstract float Sum(TVec v);
    static abstract float MaxAcross(TVec v);
    /// <summary>
    /// Loads 2·Count halves and returns them as floats scaled by 2^-112 (exact: the half's bits moved into FP32
    /// position; multiply by 2^112 to get the value). Inf/NaN halves come out as large finite values.
    /// </summary>
    static abstract void LoadHalvesScaled(Half* p, out TVec low, out TVec high);
    /// <summary>
    /// Loads 2·Count halves as Count 32-bit pairs and returns the even-indexed and the odd-indexed halves, scaled like
    /// <see cref="LoadHalvesScaled"/>: no widening shuffle, since each half is shifted into FP32 position inside its own
    /// 32-bit lane (the odd one by an arithmetic shift right, the even one first moved to the top). The caller pairs them
    /// with inputs packed by <see cref="VectorOps.PackPairs"/>.
    /// </summary>
    static abstract void LoadHalfPairsScaled(Half* p, out TVec even, out TVec odd);
}

internal static class HalfBits
{
    /// <summary>2^112: rebias factor from the FP16 exponent (bias 15) to FP32 (bias 127).</summary>
    public const float Rebias = 5.1922968585348276e33f;
    public const int Mask = unchecked((int)0x8FFFE000);

    /// <summary>Scalar twin of <see cref="ISimd{TVec}.LoadHalvesScaled"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scaled(ushort bits) => BitConverter.Int32BitsToSingle(((short)bits << 13) & Mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => Scaled(bits) * Rebias;
}

internal unsafe struct Simd512 : ISimd<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    /// <summary>Cephes-style expf, inlined (the library one is an out-of-line call): relative error ≲ 2e-7; exp(x &lt; −87.3) = 0 and exp(x &gt; 88.3) may be +Inf.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> a)
    {
        var x = Vector512.Min(a, Vector512.Create(88.7f));
        var clamped = Vector512.Max(x, Vector512.Create(-87.3f));
        var n = Vector512.Round(clamped * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), clamped);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(-87.3f)), Vector512<float>.Zero, p * scale);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> v)
    {
        var m = Vector256.Max(v.GetLower(), v.GetUpper());
        return Simd256.MaxAcross(m);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalvesScaled(Half* p, out Vector512<float> low, out Vector512<float> high)
    {
        var mask = Vector512.Create(HalfBits.Mask);
        if (Avx512F.IsSupported)
        {
            // vpmovsxwd straight from memory: no cross-lane extract of the upper half.
            low = (Vector512.ShiftLeft(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p)), 13) & mask).AsSingle();
            high = (Vector512.ShiftLeft(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p + 16)), 13) & mask).AsSingle();
            return;
        }
        var bits = Vector512.Load((short*)p);
        low = (Vector512.ShiftLeft(Vector512.WidenLower(bits), 13) & mask).AsSingle();
        high = (Vector512.ShiftLeft(Vector512.WidenUpper(bits), 13) & mask).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalfPairsScaled(Half* p, out Vector512<float> even, out Vector512<float> odd)
    {
        var mask = Vector512.Create(HalfBits.Mask);
        var pairs = Vector512.Load((int*)p);
        even = (Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(pairs, 16), 3) & mask).AsSingle();
        odd = (Vector512.ShiftRightArithmetic(pairs, 3) & mask).AsSingle();
    }
}

internal unsafe struct Simd256 : ISimd<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    /// <summary>Cephes-style expf, inlined (the library one is an out-of-line call): relative error ≲ 2e-7; exp(x &lt; −87.3) = 0 and exp(x &gt; 88.3) may be +Inf.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> a)
    {
        var x = Vector256.Min(a, Vector256.Create(88.7f));
        var clamped = Vector256.Max(x, Vector256.Create(-87.3f));
        var n = Vector256.Round(clamped * Vector256.Create(1.44269504088896341f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), clamped);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500E-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894E-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459E-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201E-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(-87.3f)), Vector256<float>.Zero, p * scale);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> v) => Simd128.MaxAcross(Vector128.Max(v.GetLower(), v.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalvesScaled(Half* p, out Vector256<float> low, out Vector256<float> high)
    {
        var mask = Vector256.Create(HalfBits.Mask);
        if (Avx2.IsSupported)
        {
            // vpmovsxwd straight from memory: no cross-lane extract of the upper half.
            low = (Vector256.ShiftLeft(Avx2.ConvertToVector256Int32((short*)p), 13) & mask).AsSingle();
            high = (Vector256.ShiftLeft(Avx2.ConvertToVector256Int32((short*)p + 8), 13) & mask).AsSingle();
            return;
        }
        var bits = Vector256.Load((short*)p);
        low = (Vector256.ShiftLeft(Vector256.WidenLower(bits), 13) & mask).AsSingle();
        high = (Vector256.ShiftLeft(Vector256.WidenUpper(bits), 13) & mask).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalfPairsScaled(Half* p, out Vector256<float> even, out Vector256<float> odd)
    {
        var mask = Vector256.Create(HalfBits.Mask);
        var pairs = Vector256.Load((int*)p);
        even = (Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(pairs, 16), 3) & mask).AsSingle();
        odd = (Vector256.ShiftRightArithmetic(pairs, 3) & mask).AsSingle();
    }
}

internal unsafe struct Simd128 : ISimd<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);
    /// <summary>Cephes-style expf, inlined (the library one is an out-of-line call): relative error ≲ 2e-7; exp(x &lt; −87.3) = 0 and exp(x &gt; 88.3) may be +Inf.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> a)
    {
        var x = Vector128.Min(a, Vector128.Create(88.7f));
        var clamped = Vector128.Max(x, Vector128.Create(-87.3f));
        var n = Vector128.Round(clamped * Vector128.Create(1.44269504088896341f));
        var r = Vector128.FusedMultiplyAdd(n, Vector128.Create(-0.693359375f), clamped);
        r = Vector128.FusedMultiplyAdd(n, Vector128.Create(2.12194440e-4f), r);
        var p = Vector128.Create(1.9875691500E-4f);
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(1.3981999507E-3f));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(8.3334519073E-3f));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(4.1665795894E-2f));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(1.6666665459E-1f));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(5.0000001201E-1f));
        p = Vector128.FusedMultiplyAdd(p, r * r, r) + Vector128<float>.One;
        var scale = Vector128.ShiftLeft(Vector128.ConvertToInt32(n) + Vector128.Create(127), 23).AsSingle();
        return Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(-87.3f)), Vector128<float>.Zero, p * scale);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> v)
        => MathF.Max(MathF.Max(v.GetElement(0), v.GetElement(1)), MathF.Max(v.GetElement(2), v.GetElement(3)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalvesScaled(Half* p, out Vector128<float> low, out Vector128<float> high)
    {
        var bits = Vector128.Load((short*)p);
        var mask = Vector128.Create(HalfBits.Mask);
        low = (Vector128.ShiftLeft(Vector128.WidenLower(bits), 13) & mask).AsSingle();
        high = (Vector128.ShiftLeft(Vector128.WidenUpper(bits), 13) & mask).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalfPairsScaled(Half* p, out Vector128<float> even, out Vector128<float> odd)
    {
        var mask = Vector128.Create(HalfBits.Mask);
        var pairs = Vector128.Load((int*)p);
        even = (Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(pairs, 16), 3) & mask).AsSingle();
        odd = (Vector128.ShiftRightArithmetic(pairs, 3) & mask).AsSingle();
    }
}

/// <summary>Width-1 instantiation: the portable path when no vector hardware is available.</summary>
internal unsafe struct SimdScalar : ISimd<float>
{
    public static int Count => 1;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Broadcast(float value) => value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float v, float* p) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Subtract(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Multiply(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Divide(float a, float b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => a * b + c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => MathF.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Exp(float a) => MathF.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(float v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(float v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalvesScaled(Half* p, out float low, out float high)
    {
        low = HalfBits.Scaled(((ushort*)p)[0]);
        high = HalfBits.Scaled(((ushort*)p)[1]);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalfPairsScaled(Half* p, out float even, out float odd)
    {
        even = HalfBits.Scaled(((ushort*)p)[0]);
        odd = HalfBits.Scaled(((ushort*)p)[1]);
    }
}
