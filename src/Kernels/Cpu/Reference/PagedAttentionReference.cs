namespace OpenAutoGlm.Kernels.Cpu.Reference;

/// <summary>The obvious twin of <see cref="PagedAttention.Causal"/>: gathers the blocks into a contiguous cache, then runs <see cref="Attention.Causal"/>.</summary>
public static class PagedAttentionReference
{
    public static void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        ReadOnlySpan<int> blockTable, int blockSize, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
    {
        int capacity = startPos + tokens;
        var k = new float[kvHeads * capacity * headDim];
        var v = new float[kvHeads * capacity * headDim];
        for (int h = 0; h < kvHeads; h++)
            for (int p = 0; p < capacity; p++)
            {
                int src = PagedAttention.RowOffset(blockTable, p, blockSize, h, kvHeads, headDim);
                keys.Slice(src, headDim).CopyTo(k.AsSpan((h * capacity + p) * headDim, headDim));
                values.Slice(src, headDim).CopyTo(v.AsSpan((h * capacity + p) * headDim, headDim));
            }
        Attention.Causal(q, tokens, startPos, k, v, capacity, heads, kvHeads, headDim, output, pool);
    }
}
