using Xunit;
using System.Runtime.Intrinsics;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Kernels.Cpu.Reference;
using static OpenAutoGlm.Tests.Kernels.KernelTestData;

namespace OpenAutoGlm.Tests.Kernels;

public unsafe class ElementwiseTests
{
    public static TheoryData<int> IsaData => Isas();
    private static readonly int[] Sizes = [1, 3, 7, 13, 17, 37, 63, 100, 769];

    [Theory]
    [MemberData(nameof(IsaData))]
    public void HalfToSingle_IsExactForEveryFiniteHalf(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var all = new List<Half>();
        for (int bits = 0; bits < 65536; bits++)
        {
            var h = BitConverter.UInt16BitsToHalf((ushort)bits);
            if (Half.IsFinite(h)) all.Add(h);
        }
        all.Add((Half)1f);  // Odd total length exercises the scalar tail.
        var src = all.ToArray();
        var dst = new float[src.Length];
        HalfConvert.ToSingle(src, dst, isa);
        for (int i = 0; i < src.Length; i++)
        {
            Assert.Equal(HalfConvertReference.ToSingle(src[i]), dst[i]);
            Assert.Equal(BitConverter.SingleToInt32Bits((float)src[i]), BitConverter.SingleToInt32Bits(dst[i]));
        }
    }

    [Fact]
    public void ToHalf_RoundsToNearestEven()
    {
        float[] src = [1f, 1.00048828125f /* exactly halfway: stays 1 */, 1.00146484375f /* halfway, rounds up to even */, 70000f, -0f, 5.9604645e-8f];
        var dst = new Half[src.Length];
        HalfConvert.ToHalf(src, dst);
        Assert.Equal((Half)1f, dst[0]);
        Assert.Equal((Half)1f, dst[1]);
        Assert.Equal((Half)1.001953125f, dst[2]);
        Assert.True(Half.IsPositiveInfinity(dst[3]));
        Assert.True(Half.IsNegative(dst[4]));
        Assert.Equal(Half.Epsilon, dst[5]);
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void VectorOps_MatchReference(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(3);
        foreach (int n in Sizes)
        {
            var a = Floats(rng, n, 5f);
            var b = Floats(rng, n, 5f);
            var sum = (float[])a.Clone();
            VectorOps.Add(sum, b, isa);
            for (int i = 0; i < n; i++) Assert.Equal(a[i] + b[i], sum[i]);

            var scaled = (float[])a.Clone();
            VectorOps.Scale(scaled, 0.37f, isa);
            for (int i = 0; i < n; i++) Assert.Equal(a[i] * 0.37f, scaled[i]);

            var withMaxRepeated = (float[])a.Clone();
            if (n > 2) withMaxRepeated[n - 1] = withMaxRepeated[VectorOpsReference.ArgMax(a)];
            Assert.Equal(VectorOpsReference.ArgMax(withMaxRepeated), VectorOps.ArgMax(withMaxRepeated, isa));

            var soft = Floats(rng, n, 30f);
            var expected = (float[])soft.Clone();
            VectorOpsReference.Softmax(expected);
            VectorOps.Softmax(soft, isa);
            for (int i = 0; i < n; i++) Close(expected[i], soft[i], 1e-6 + 1e-5 * expected[i], $"{isa} softmax n={n} [{i}]");

            const int rows = 3;
            var y = Floats(rng, rows * n);
            var biased = (float[])y.Clone();
            VectorOps.AddBias(biased, rows, b, isa);
            for (int i = 0; i < rows * n; i++) Assert.Equal(y[i] + b[i % n], biased[i]);
        }
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void RmsNorm_MatchesReference(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(5);
        foreach (int dim in Sizes)
        {
            const int rows = 3;
            var x = Floats(rng, rows * dim, 4f);
            var w = Floats(rng, dim, 2f);
            var expected = new float[rows * dim];
            RmsNormReference.Forward(x, w, 1e-5f, expected, rows);
            var actual = new float[rows * dim];
            RmsNorm.Forward(x, w, 1e-5f, actual, rows, isa);
            for (int i = 0; i < actual.Length; i++) Close(expected[i], actual[i], 1e-5 * (1 + Math.Abs(expected[i])), $"{isa} dim={dim} [{i}]");
        }
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(new float[5], new float[3], 1e-5f, new float[6], 2));
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Activations_MatchReference(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(9);
        foreach (int n in Sizes)
        {
            var x = Floats(rng, n, 12f);
            x[0] = n > 1 ? -100f : 100f;  // Saturated ends must not produce NaN.
            CheckGate(x, v => Activations.Silu(v, isa), ActivationsReference.Silu, $"{isa} silu");
            CheckGate(x, v => Activations.QuickGelu(v, isa), ActivationsReference.QuickGelu, $"{isa} quickgelu");
            CheckGate(x, v => Activations.GeluTanh(v, isa), ActivationsReference.GeluTanh, $"{isa} gelutanh");
            CheckGate(x, v => Activations.Gelu(v, isa), ActivationsReference.Gelu, $"{isa} gelu");

            const int rows = 2;
            var gateUp = Floats(rng, rows * 2 * n, 6f);
            var expected = new float[rows * n];
            ActivationsReference.SwiGlu(gateUp, rows, n, expected);
            var actual = new float[rows * n];
            Activations.SwiGlu(gateUp, rows, n, actual, isa);
            for (int i = 0; i < actual.Length; i++) Close(expected[i], actual[i], 1e-6 + 1e-5 * Math.Abs(expected[i]), $"{isa} swiglu n={n} [{i}]");
        }
    }

    private static void CheckGate(float[] x, Action<float[]> fast, Func<double, double> reference, string what)
    {
        var y = (float[])x.Clone();
        fast(y);
        for (int i = 0; i < x.Length; i++) Close(reference(x[i]), y[i], 1e-6 + 1e-5 * Math.Abs(x[i]), $"{what} x={x[i]}");
    }

    [Fact]
    public void VectorExp_MatchesMathExpAcrossTheRange()
    {
        for (float x = -100f; x <= 88f; x += 0.0137f)
        {
            double expected = x < -87.3f ? 0 : Math.Exp(x);
            double tolerance = 3e-7 * expected + 1e-38;
            Close(expected, Simd128.Exp(Vector128.Create(x)).GetElement(0), tolerance, $"v128 exp({x})");
            Close(expected, Simd256.Exp(Vector256.Create(x)).GetElement(3), tolerance, $"v256 exp({x})");
            Close(expected, Simd512.Exp(Vector512.Create(x)).GetElement(9), tolerance, $"v512 exp({x})");
        }
        Assert.Equal(0f, Simd256.Exp(Vector256.Create(float.NegativeInfinity)).GetElement(0));
        Assert.Equal(1f, Simd256.Exp(Vector256<float>.Zero).GetElement(0));
    }

    [Fact]
    public void ReferenceErf_MatchesKnownValues()
    {
        Close(0.8427007929497149, ActivationsReference.Erf(1), 1e-14, "erf(1)");
        Close(-0.9953222650189527, ActivationsReference.Erf(-2), 1e-14, "erf(-2)");
        Close(0.9999779095030014, ActivationsReference.Erf(3), 1e-14, "erf(3)");
        Close(1 - 1.9661604415428873e-10, ActivationsReference.Erf(4.5), 1e-14, "erf(4.5)");
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Embedding_GathersRowsAsFloats(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(13);
        foreach (int dim in new[] { 1, 7, 37, 100 })
        {
            var table = Halves(rng, 11 * dim, 4f);
            int[] ids = [10, 0, 3, 3];
            var output = new float[ids.Length * dim];
            fixed (Half* t = table) Embedding.Gather(t, dim, ids, output, isa);
            for (int r = 0; r < ids.Length; r++)
                for (int i = 0; i < dim; i++) Assert.Equal((float)table[ids[r] * dim + i], output[r * dim + i]);
        }
    }
}
