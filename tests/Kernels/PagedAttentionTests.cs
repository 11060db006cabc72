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
        // Same operations in the same order as the contiguous kernel: bit-identical, not merely close.
        Assert.Equal(reference, paged);
    }

    [Fact]
    public void RowsOfManySequencesInOneCallMatchEachSequenceAlone()
    {
        const int blockSize = 4, heads = 4, kvHeads = 2, headDim = 8, poolBlocks = 24, width = heads * headDim;
        var rng = new Random(7);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var keys = Random(poolBlocks * kvHeads * blockSize * headDim);
        var values = Random(keys.Length);
        // (tokens, startPos): a prefill chunk, decode rows, and a chunk that continues a cached prefix.
        (int Tokens, int StartPos)[] sequences = [(5, 0), (1, 9), (1, 0), (3, 6), (1, 14)];
        var blocks = Enumerable.Range(0, poolBlocks).OrderBy(_ => rng.Next()).ToArray();
        int rows = sequences.Sum(s => s.Tokens), used = 0, row = 0;
        var q = Random(rows * width);
        var positions = new int[rows];
        var starts = new int[rows];
        var tables = new List<int>();
        var alone = new float[rows * width];
        using var pool = new WorkerPool(3);
        foreach (var (tokens, startPos) in sequences)
        {
            int length = (startPos + tokens + blockSize - 1) / blockSize;
            var table = blocks.AsSpan(used, length).ToArray();
            used += length;
            PagedAttention.Causal(q.AsSpan(row * width, tokens * width), tokens, startPos, keys, values, table, blockSize, heads, kvHeads, headDim,
                alone.AsSpan(row * width, tokens * width), pool);
            for (int t = 0; t < tokens; t++)
            {
                positions[row + t] = startPos + t;
                starts[row + t] = tables.Count;
            }
            tables.AddRange(table);
            row += tokens;
        }
        var batched = new float[rows * width];
        PagedAttention.CausalRows(q, positions, starts, tables.ToArray(), keys, values, blockSize, heads, kvHeads, headDim, batched, pool);
        Assert.Equal(alone, batched);
    }

    [Fact]
    public void ABlockOutsideThePoolIsRejected()
    {
        using var pool = new WorkerPool(1);
        Assert.Throws<ArgumentException>(() => PagedAttention.CausalRows(new float[8], [0], [0], [2], new float[64], new float[64], 4, 1, 1, 8, new float[8], pool));
    }

    [Fact]
    public void ATableTooShortIsRejected()
    {
        using var pool = new WorkerPool(1);
        Assert.Throws<ArgumentException>(() => PagedAttention.Causal(new float[8], 1, 4, new float[64], new float[64], [0], 4, 1, 1, 8, new float[8], pool));
    }
}
