using Xunit;
using OpenAutoGlm.Kernels.Cpu;

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

    public static void Close(double expected, double actual, double tolerance, string what)
    {
        if (!(Math.Abs(expected - actual) <= tolerance))
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R} (|diff| {Math.Abs(expected - actual):E2} > {tolerance:E2})");
    }
}
