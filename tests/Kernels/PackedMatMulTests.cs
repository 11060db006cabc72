using Xunit;
using OpenAutoGlm.Kernels.Cpu;
using static OpenAutoGlm.Tests.Kernels.KernelTestData;

namespace OpenAutoGlm.Tests.Kernels;

public unsafe class PackedMatMulTests
{
    public static TheoryData<int> IsaData => Isas();

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Pack_KeepsEveryWeightAndPadsWithZeros(int isaWidth)
    {
        var rng = new Random(3);
        using var pool = new WorkerPool(2);
        foreach (var (n, k) in new[] { (1, 1), (5, 7), (37, 16), (129, 33), (300, 2) })
        {
            var w = Halves(rng, n * k);
            using var packed = PackedMatrix.Pack(w, n, k, pool, (VectorIsa)isaWidth);
            Assert.Equal(n, packed.Rows);
            Assert.Equal(k, packed.Columns);
            for (int r = 0; r < n; r++)
                for (int c = 0; c < k; c++)
                    Assert.Equal(w[r * k + c], packed[r, c]);
            // The padding a kernel reads: rows up to the group's end, the column after an odd k.
            for (int r = n; r < packed.Groups * packed.GroupRows; r++) Assert.Equal((Half)0, packed[r, 0]);
            if (k % 2 == 1) Assert.Equal((Half)0, packed[0, k]);
        }
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Multiply_MatchesReference(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(7);
        using var pool = new WorkerPool(2);
        bool saved = PackedMatMul.WideTiles;
        try
        {
            foreach (bool wide in new[] { false, true })
            {
                PackedMatMul.WideTiles = wide;
                foreach (int k in new[] { 1, 2, 7, 64, 129 })
                    foreach (int n in new[] { 1, 13, 130 })
                        foreach (int rows in new[] { 1, 2, 3, 4, 5, 8, 9, 12, 13, 16, 21 })
                            Check(rng, pool, isa, rows, k, n);
            }
            Check(rng, pool, isa, 70, 768, 300);
        }
        finally
        {
            PackedMatMul.WideTiles = saved;
        }
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Multiply_ARowGetsTheSameBitsAtEveryRowCount(int isaWidth)
    {
        // One kernel family for every row count: a row's result may not depend on how many rows the call has, where the
        // row sits or what the other rows hold — from the single-row GEMV through groups of 4 and 8 to prefill-sized calls,
        // with either tile width.
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(5);
        using var pool = new WorkerPool(2);
        int k = 301, n = 150;
        var w = Halves(rng, n * k);
        using var packed = PackedMatrix.Pack(w, n, k, pool, isa);
        var probe = Floats(rng, k, 2f);
        var expected = new float[n];
        PackedMatMul.Multiply(probe, 1, packed, expected, pool);
        bool saved = PackedMatMul.WideTiles;
        try
        {
            foreach (bool wide in new[] { false, true })
            {
                PackedMatMul.WideTiles = wide;
                foreach (int rows in new[] { 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 31, 64, 70 })
                    for (int at = rows % 3; at < rows; at += rows < 20 ? 3 : 11)
                    {
                        var x = Floats(rng, rows * k);
                        probe.CopyTo(x, at * k);
                        var y = new float[rows * n];
                        PackedMatMul.Multiply(x, rows, packed, y, pool);
                        Assert.Equal(expected, y.AsSpan(at * n, n).ToArray());
                    }
            }
        }
        finally
        {
            PackedMatMul.WideTiles = saved;
        }
    }

    [Fact]
    public void Multiply_ExactOnSubnormalAndExtremeHalves()
    {
        using var pool = new WorkerPool(1);
        foreach (var isa in AllIsas)
            foreach (int rows in new[] { 1, 3, 8, 13, 16 })   // GEMV, 4-, 8- and 16-row tiles
                AssertExactOnExtremeHalves(rows, (x, w) =>
                {
                    using var packed = PackedMatrix.Pack(w, 2, ExtremeHalves.Length, pool, isa);
                    var y = new float[rows * 2];
                    PackedMatMul.Multiply(x, rows, packed, y, pool);
                    return y;
                });
    }

    [Fact]
    public void Multiply_RejectsWrongLengthsAndADisposedMatrix()
    {
        using var pool = new WorkerPool(1);
        var packed = PackedMatrix.Pack(new Half[12], 4, 3, pool);
        var ex = Assert.Throws<ArgumentException>(() => PackedMatMul.Multiply(new float[5], 2, packed, new float[8], pool));
        Assert.Equal("x", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => PackedMatMul.Multiply(new float[6], 2, packed, new float[7], pool));
        Assert.Equal("y", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => PackedMatrix.Pack(new Half[11], 4, 3, pool));
        Assert.Equal("w", ex.ParamName);
        packed.Dispose();
        packed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => PackedMatMul.Multiply(new float[6], 2, packed, new float[8], pool));
    }

    private static void Check(Random rng, WorkerPool pool, VectorIsa isa, int rows, int k, int n)
    {
        var x = Floats(rng, rows * k, 3f);
        var w = Halves(rng, n * k);
        var actual = new float[rows * n];
        actual.AsSpan().Fill(float.NaN);
        using var packed = PackedMatrix.Pack(w, n, k, pool, isa);
        PackedMatMul.Multiply(x, rows, packed, actual, pool);
        AssertMatchesReference(x, w, rows, k, n, actual, $"{isa} wide={PackedMatMul.WideTiles}");
    }
}
