using Xunit;
using OpenAutoGlm.Kernels.Cpu;
using static OpenAutoGlm.Tests.Kernels.KernelTestData;

namespace OpenAutoGlm.Tests.Kernels;

public unsafe class MatMulTests
{
    public static TheoryData<int> IsaData => Isas();

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Multiply_MatchesReferenceOnOddShapes(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(7);
        using var pool = new WorkerPool(2);
        int[] ks = [1, 7, 17, 63, 100, 769];
        int[] ns = [1, 3, 13, 37];
        int[] rowCounts = [1, 2, 3, 4, 5, 7, 13, 20, MatMul.SkinnyMaxRows + 3, MatMul.PanelMinRows, MatMul.PanelMinRows + 9];
        foreach (int k in ks)
            foreach (int n in ns)
                foreach (int rows in rowCounts)
                    Check(rng, pool, isa, rows, k, n);
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Multiply_MatchesReferenceOnModelShapes(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(11);
        using var pool = new WorkerPool(3);
        Check(rng, pool, isa, 1, 768, 256);
        Check(rng, pool, isa, 1, 2048, 96);
        Check(rng, pool, isa, 1, 128, 1001);
        Check(rng, pool, isa, 16, 256, 100);
        Check(rng, pool, isa, 6, 320, 40);
        // Deeper than one k slice (partial sums carried across slices), with padding and edge tiles.
        Check(rng, pool, isa, 8, MatMul.KSlice * 2 + 77, 10);
        Check(rng, pool, isa, 13, MatMul.KSlice + 1, 7);
        // The panel GEMM's last weight group of a block overlaps the one before (a block of 48 rows, then one of 16 = 2·6 + 4)
        // over two k slices: the shared rows must get each slice once (the 125M model's QKV width, 1280, ends like this).
        using var single = new WorkerPool(1);
        Check(rng, single, isa, MatMul.PanelMinRows + 3, MatMul.PanelKSlice + 100, 160);
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Multiply_ARowsResultDoesNotDependOnTheOtherRows(int isaWidth)
    {
        // Within each path a row must get the same bits wherever it sits and whatever the other rows are: from
        // MatMul.GemmMinRows rows to below MatMul.PanelMinRows (a full skinny group or a padded one, a full x tile or the
        // rows after the last one, on both sides of the switch from the skinny kernel to the register-tile GEMM), and from
        // MatMul.PanelMinRows on (a full panel pair, an odd last panel, a partial one), over more than one k slice.
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(5);
        using var pool = new WorkerPool(2);
        int k = Math.Max(MatMul.KSlice, MatMul.PanelKSlice) + 45, n = 29;
        var w = new Half[n * k];
        for (int i = 0; i < w.Length; i++) w[i] = (Half)(rng.NextSingle() * 2 - 1);
        var probe = Floats(rng, k);
        (int From, int To, int Step)[] ranges = [(MatMul.GemmMinRows, MatMul.SkinnyMaxRows + 7, 1), (MatMul.PanelMinRows, MatMul.PanelMinRows + 40, 7)];
        fixed (Half* pw = w)
            foreach (var (from, to, step) in ranges)
            {
                float[]? expected = null;
                for (int rows = from; rows <= to; rows += step)
                    for (int at = rows % 3; at < rows; at += rows < 32 ? 4 : 13)
                    {
                        var x = Floats(rng, rows * k);
                        probe.CopyTo(x, at * k);
                        var y = new float[rows * n];
                        MatMul.Multiply(x, rows, k, pw, n, y, pool, isa);
                        var row = y.AsSpan(at * n, n).ToArray();
                        expected ??= row;
                        Assert.Equal(expected, row);
                    }
            }
    }

    [Fact]
    public void Multiply_ExactOnSubnormalAndExtremeHalves()
    {
        // Weights at the FP16 range ends must convert exactly: subnormals, smallest normal, largest finite.
        using var pool = new WorkerPool(1);
        foreach (var isa in AllIsas)
            foreach (int rows in new[] { 1, 5, MatMul.SkinnyMaxRows + 1, MatMul.PanelMinRows })   // GEMV, skinny kernel, tile GEMM, panel GEMM
                AssertExactOnExtremeHalves(rows, (x, w) =>
                {
                    int k = ExtremeHalves.Length;
                    var y = new float[rows * 2];
                    fixed (Half* pw = w) MatMul.Multiply(x, rows, k, pw, 2, y, pool, isa);
                    return y;
                });
    }

    [Fact]
    public void Multiply_RejectsWrongLengths()
    {
        using var pool = new WorkerPool(1);
        var w = new Half[12];
        var ex = Assert.Throws<ArgumentException>(() => MatMul.Multiply(new float[5], 2, 3, w, 4, new float[8], pool));
        Assert.Equal("x", ex.ParamName);
        Assert.Contains("6", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => MatMul.Multiply(new float[6], 2, 3, w, 4, new float[7], pool));
        Assert.Equal("y", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => MatMul.Multiply(new float[6], 2, 3, new Half[11], 4, new float[8], pool));
        Assert.Equal("w", ex.ParamName);
    }

    private static void Check(Random rng, WorkerPool pool, VectorIsa isa, int rows, int k, int n)
    {
        var x = Floats(rng, rows * k, 3f);
        var w = Halves(rng, n * k);
        var actual = new float[rows * n];
        actual.AsSpan().Fill(float.NaN);
        fixed (Half* pw = w) MatMul.Multiply(x, rows, k, pw, n, actual, pool, isa);
        AssertMatchesReference(x, w, rows, k, n, actual, $"{isa}");
    }
}
