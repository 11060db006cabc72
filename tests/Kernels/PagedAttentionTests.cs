using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Kernels.Cpu.Reference;

namespace OpenAutoGlm.Tests.Kernels;

public sealed class PagedAttentionTests
{
    [Theory]
    [InlineData(1, 0, 4, 4, 2, 8)]
    [InlineData(5, 0, 4, 4, 4, 8)]
    [InlineData(3, 11, 4, 8, 2, 16)]
    [InlineData(1, 40, 16, 4, 1, 12)]
    public void MatchesTheContiguousReference(int tokens, int startPos, int blockSize, int heads, int kvHeads, int headDim)
    {
        var rng = new Random(tokens * 1000 + startPos);
        int positions = startPos + tokens, tableLength = (positions + blockSize - 1) / blockSize, poolBlocks = tableLength * 2 + 3;
        // Scattered, out-of-order blocks: the table, not the pool order, defines the sequence.
        var table = Enumerable.Range(0, poolBlocks).OrderBy(_ => rng.Next()).Take(tableLength).ToArray();
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var keys = Random(poolBlocks * kvHeads * blockSize * headDim);
        var values = Random(keys.Length);
        var q = Random(tokens * heads * headDim);
        var paged = new float[q.Length];
        var reference = new float[q.Length];
        using var pool = new WorkerPool(1);
        PagedAttention.Causal(q, tokens, startPos, keys, values, table, blockSize, heads, kvHeads, headDim, paged, pool);
        PagedAttentionReference.Causal(q, tokens, startPos, keys, values, table, blockSize, heads, kvHeads, headDim, reference, pool);
        for (int i = 0; i < q.Length; i++) Assert.Equal(reference[i], paged[i], 1e-5f);
    }

    [Fact]
    public void ATableTooShortIsRejected()
    {
        using var pool = new WorkerPool(1);
        Assert.Throws<ArgumentException>(() => PagedAttention.Causal(new float[8], 1, 4, new float[64], new float[64], [0], 4, 1, 1, 8, new float[8], pool));
    }
}
