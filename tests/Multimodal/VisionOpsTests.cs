using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Kernels.Cpu.Reference;

namespace OpenAutoGlm.Tests.Multimodal;

/// <summary>The vectorized vision kernels against their plain twins, across vector-width tails.</summary>
public class VisionOpsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(64)]
    public void LayerNormMatchesTheReference(int d)
    {
        var random = new Random(d);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 1)).ToArray();
        var x = R(3 * d); var w = R(d); var b = R(d);
        var y = new float[3 * d]; var expected = new float[3 * d];
        LayerNorm.Forward(x, w, b, 1e-6f, y, 3);
        VisionOpsReference.LayerNorm(x, w, b, 1e-6, expected, 3);
        for (int i = 0; i < y.Length; i++) Assert.Equal(expected[i], y[i], 1e-4f);
    }

    [Theory]
    [InlineData("gelu")]
    [InlineData("gelu_pytorch_tanh")]
    [InlineData("quick_gelu")]
    [InlineData("silu")]
    public void ActivationsMatchTheReference(string name)
    {
        var x = Enumerable.Range(-800, 1601).Select(i => i / 100f).ToArray();
        var y = (float[])x.Clone();
        VisionActivations.Apply(name, y);
        for (int i = 0; i < x.Length; i++) Assert.Equal(VisionOpsReference.Activation(name, x[i]), y[i], 2e-6);
    }

    [Fact]
    public void ReferenceErfIsAccurate()
    {
        Assert.Equal(0.8427007929497149, VisionOpsReference.Erf(1), 1e-14);
        Assert.Equal(-0.9953222650189527, VisionOpsReference.Erf(-2), 1e-14);
    }

    [Theory]
    [InlineData(3, 5, 9, false)]    // fewer rows than a register tile
    [InlineData(7, 5, 9, false)]    // padded head dim and key count
    [InlineData(30, 37, 64, false)]
    [InlineData(13, 13, 24, true)]
    [InlineData(2, 6, 16, true)]
    [InlineData(50, 53, 40, true)]   // several panel pairs, an odd last panel, w-row groups that overlap
    public unsafe void DenseAttentionMatchesANaiveSoftmax(int T, int M, int hd, bool causal)
    {
        int H = 2, D = H * hd;
        var random = new Random(4 + T + M);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var q = R(T * D); var kv = R(M * 2 * D); var o = new float[T * D];
        using var pool = new WorkerPool(2);
        fixed (float* pq = q, pkv = kv, po = o) DenseAttention.Forward(pq, T, D, pkv, pkv + D, M, 2 * D, H, hd, po, D, pool, causal);
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
            {
                int seen = causal ? Math.Min(t + 1, M) : M;
                var s = new double[seen];
                for (int j = 0; j < seen; j++)
                {
                    for (int i = 0; i < hd; i++) s[j] += (double)q[t * D + h * hd + i] * kv[j * 2 * D + h * hd + i];
                    s[j] = Math.Exp(s[j] / Math.Sqrt(hd));
                }
                double sum = s.Sum();
                for (int i = 0; i < hd; i++)
                {
                    double e = 0;
                    for (int j = 0; j < seen; j++) e += s[j] / sum * kv[j * 2 * D + D + h * hd + i];
                    Assert.Equal(e, o[t * D + h * hd + i], 1e-5);
                }
            }
    }

    [Fact]
    public unsafe void ARowsAttentionDoesNotDependOnHowManyRowsShareTheCall()
    {
        int T = 11, M = 23, H = 3, hd = 20, D = H * hd;
        var random = new Random(12);
        var q = Enumerable.Range(0, T * D).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var kv = Enumerable.Range(0, M * 2 * D).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var all = new float[T * D];
        using var pool = new WorkerPool(2);
        fixed (float* pq = q, pkv = kv, po = all) DenseAttention.Forward(pq, T, D, pkv, pkv + D, M, 2 * D, H, hd, po, D, pool);
        foreach (int start in new[] { 0, 5, 10 })
            foreach (int count in new[] { 1, 2, 3, 4, 5 })
            {
                if (start + count > T) continue;
                var part = new float[count * D];
                fixed (float* pq = q, pkv = kv, po = part)
                    DenseAttention.Forward(pq + start * D, count, D, pkv, pkv + D, M, 2 * D, H, hd, po, D, pool);
                Assert.Equal(all.AsSpan(start * D, count * D).ToArray(), part);
            }
    }
}
