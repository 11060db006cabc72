using Xunit;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Kernels.Cpu.Reference;

namespace OpenAutoGlm.Tests.Kernels;

internal static class KernelTestData
{
    /// <summary>Every vector path, including Vector512 run in software where the hardware lacks it.</summary>
    public static readonly VectorIsa[] AllIsas = [VectorIsa.Scalar, VectorIsa.V128, VectorIsa.V256, VectorIsa.V512];

    /// <summary>Vector widths in bits (0 = scalar) as theory data; the enum itself is internal to the kernels.</summary>
    public static TheoryData<int> Isas()
    {
        var data = new TheoryData<int>();
        foreach (var isa in AllIsas) data.Add((int)isa);
        return data;
    }

    public static float[] Floats(Random rng, int count, float scale = 1f)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (rng.NextSingle() * 2 - 1) * scale;
        return a;
    }

    public static Half[] Halves(Random rng, int count, float scale = 1f)
    {
        var a = new Half[count];
        for (int i = 0; i < a.Length; i++) a[i] = (Half)((rng.NextSingle() * 2 - 1) * scale);
        return a;
    }

    /// <summary>FP16 values at the ends of the range (subnormals, smallest normal, largest finite, signed zeros): a product must convert them exactly.</summary>
    public static readonly Half[] ExtremeHalves = [Half.Epsilon, (Half)6.1035156e-5f, Half.MaxValue, Half.MinValue, (Half)(-3.0517578e-5f), (Half)0f, Half.NegativeZero, (Half)1.5f];

    /// <summary>
    /// Asserts y[rows, n] = x[rows, k] · wᵀ against the double-precision reference, each entry within 4e-6 of the sum of the
    /// products' magnitudes (plus 1e-6): the error FP32 accumulation may make.
    /// </summary>
    public static void AssertMatchesReference(float[] x, Half[] w, int rows, int k, int n, float[] actual, string what)
    {
        var expected = new float[rows * n];
        MatMulReference.Multiply(x, rows, k, w, n, expected);
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < n; j++)
            {
                double magnitude = 0;
                for (int i = 0; i < k; i++) magnitude += Math.Abs(x[t * k + i] * (float)w[j * k + i]);
                Close(expected[t * n + j], actual[t * n + j], 4e-6 * magnitude + 1e-6, $"{what} rows={rows} k={k} n={n} y[{t},{j}]");
            }
    }

    /// <summary>
    /// For each column j of a two-row matrix of <see cref="ExtremeHalves"/> (forward, then reversed), x = the j-th unit row
    /// repeated <paramref name="rows"/> times must give exactly those two weights.
    /// </summary>
    public static void AssertExactOnExtremeHalves(int rows, Func<float[], Half[], float[]> multiply)
    {
        int k = ExtremeHalves.Length, n = 2;
        var w = new Half[n * k];
        for (int i = 0; i < k; i++) { w[i] = ExtremeHalves[i]; w[k + i] = ExtremeHalves[k - 1 - i]; }
        for (int j = 0; j < k; j++)
        {
            var x = new float[rows * k];
            for (int t = 0; t < rows; t++) x[t * k + j] = 1f;
            var y = multiply(x, w);
            for (int t = 0; t < rows; t++)
            {
                Assert.Equal((float)w[j], y[t * n]);
                Assert.Equal((float)w[k + j], y[t * n + 1]);
            }
        }
    }

    public static void Close(double expected, double actual, double tolerance, string what)
    {
        if (!(Math.Abs(expected - actual) <= tolerance))
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R} (|diff| {Math.Abs(expected - actual):E2} > {tolerance:E2})");
    }
}
