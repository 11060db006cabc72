using Xunit;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Kernels.Cpu.Reference;
using static OpenAutoGlm.Tests.Kernels.KernelTestData;

namespace OpenAutoGlm.Tests.Kernels;

public class RopeAttentionTests
{
    public static TheoryData<int> IsaData => Isas();

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Rope_MatchesReference(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(17);
        foreach (var (headDim, rotaryDim) in new[] { (2, 2), (14, 14), (64, 64), (64, 32), (34, 26), (128, 64) })
            foreach (bool interleaved in new[] { false, true })
            {
                const int heads = 3;
                var inv = Rope.InverseFrequencies(rotaryDim, 10000);
                var cos = new float[rotaryDim / 2];
                var sin = new float[rotaryDim / 2];
                for (int i = 0; i < cos.Length; i++) { cos[i] = MathF.Cos(37 * inv[i]); sin[i] = MathF.Sin(37 * inv[i]); }
                var v = Floats(rng, heads * headDim, 3f);
                var expected = (float[])v.Clone();
                RopeReference.Apply(expected, heads, headDim, rotaryDim, interleaved, cos, sin);
                Rope.Apply(v, heads, headDim, rotaryDim, interleaved, cos, sin, isa);
                for (int i = 0; i < v.Length; i++) Close(expected[i], v[i], 1e-6 * (1 + Math.Abs(expected[i])), $"{isa} d={headDim} r={rotaryDim} il={interleaved} [{i}]");
            }
    }

    [Fact]
    public void Rope_LeavesDimsBeyondRotaryUntouched()
    {
        var v = new float[16];
        for (int i = 0; i < v.Length; i++) v[i] = i + 1;
        Rope.Apply(v, 2, 8, 4, false, new float[] { 0f, 0f }, new float[] { 1f, 1f });
        Assert.Equal(new float[] { -3, -4, 1, 2, 5, 6, 7, 8, -11, -12, 9, 10, 13, 14, 15, 16 }, v);
    }

    [Fact]
    public void InverseFrequencies_MatchDoubleWithinFloatRounding()
    {
        foreach (int r in new[] { 2, 32, 64, 128 })
        {
            var fast = Rope.InverseFrequencies(r, 500000);
            var exact = RopeReference.InverseFrequencies(r, 500000);
            Assert.Equal(1f, fast[0]);
            for (int i = 0; i < fast.Length; i++) Close(exact[i], fast[i], 4e-7 * exact[i], $"r={r} [{i}]");
        }
    }

    [Theory]
    [MemberData(nameof(IsaData))]
    public void Attention_MatchesReference(int isaWidth)
    {
        var isa = (VectorIsa)isaWidth;
        var rng = new Random(19);
        using var pool = new WorkerPool(2);
        foreach (var (tokens, startPos, heads, kvHeads, headDim) in new[]
                 { (1, 0, 1, 1, 1), (1, 12, 4, 2, 7), (3, 5, 6, 2, 17), (5, 0, 4, 4, 64), (2, 40, 12, 4, 63), (1, 100, 3, 1, 100) })
        {
            int capacity = startPos + tokens + 3;
            var q = Floats(rng, tokens * heads * headDim, 2f);
            var keys = Floats(rng, kvHeads * capacity * headDim, 2f);
            var values = Floats(rng, kvHeads * capacity * headDim, 2f);
            var expected = new float[q.Length];
            AttentionReference.Causal(q, tokens, startPos, keys, values, capacity, heads, kvHeads, headDim, expected);
            var actual = new float[q.Length];
            Attention.Causal(q, tokens, startPos, keys, values, capacity, heads, kvHeads, headDim, actual, pool, isa);
            for (int i = 0; i < actual.Length; i++) Close(expected[i], actual[i], 2e-5, $"{isa} t={tokens} s={startPos} h={heads}/{kvHeads} d={headDim} [{i}]");
        }
    }

    [Fact]
    public void Attention_IgnoresCacheRowsAfterTheQueryPosition()
    {
        using var pool = new WorkerPool(1);
        const int d = 4, capacity = 8;
        var q = new float[2 * d];
        var keys = new float[capacity * d];
        var values = new float[capacity * d];
        for (int p = 0; p < capacity; p++) values[p * d] = p;
        var output = new float[2 * d];
        // Equal scores: token 0 at position 2 averages values 0..2, token 1 averages 0..3; rows 4.. must be ignored.
        Attention.Causal(q, 2, 2, keys, values, capacity, 1, 1, d, output, pool);
        Assert.Equal(1f, output[0], 6);
        Assert.Equal(1.5f, output[d], 6);
    }

    [Fact]
    public void Attention_RejectsBadArguments()
    {
        using var pool = new WorkerPool(1);
        var ex = Assert.Throws<ArgumentException>(() => Attention.Causal(new float[7], 1, 0, new float[16], new float[16], 4, 2, 1, 4, new float[8], pool));
        Assert.Equal("q", ex.ParamName);
        Assert.ThrowsAny<ArgumentException>(() => Attention.Causal(new float[8], 1, 4, new float[16], new float[16], 4, 2, 1, 4, new float[8], pool));
        Assert.ThrowsAny<ArgumentException>(() => Attention.Causal(new float[12], 1, 0, new float[16], new float[16], 4, 3, 2, 4, new float[12], pool));
    }
}
