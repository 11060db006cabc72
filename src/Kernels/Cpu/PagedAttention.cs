using System.Buffers;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// Causal attention of one sequence whose keys and values live in fixed-size blocks of a shared pool (PagedAttention).
/// Per query row the arithmetic is that of <see cref="Attention.Causal"/> (dot products in position order, softmax, weighted sum
/// in position order), so a sequence gets the same result from a paged cache as from a contiguous one.
/// </summary>
public static class PagedAttention
{
    /// <param name="q">[tokens, heads·headDim] queries at positions startPos .. startPos + tokens − 1.</param>
    /// <param name="keys">[blocks, kvHeads, blockSize, headDim]: the whole pool of one layer.</param>
    /// <param name="blockTable">Pool block of each block of positions: position p lives in blockTable[p / blockSize], slot p % blockSize.</param>
    /// <param name="output">[tokens, heads·headDim].</param>
    public static void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        ReadOnlySpan<int> blockTable, int blockSize, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
    {
        int positions = startPos + tokens;
        if (blockTable.Length * blockSize < positions)
            throw new ArgumentException($"The block table covers {blockTable.Length * blockSize} positions, {positions} are attended.", nameof(blockTable));
        int rep = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        float[]? rented = positions > 1024 ? ArrayPool<float>.Shared.Rent(positions) : null;
        Span<float> scores = rented is not null ? rented.AsSpan(0, positions) : stackalloc float[positions];
        try
        {
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < heads; h++)
                {
                    int kh = h / rep, n = startPos + t + 1;
                    var s = scores[..n];
                    var qRow = q.Slice((t * heads + h) * headDim, headDim);
                    for (int p = 0; p < n; p++)
                    {
                        var kRow = keys.Slice(RowOffset(blockTable, p, blockSize, kh, kvHeads, headDim), headDim);
                        float d = 0;
                        for (int i = 0; i < headDim; i++) d += qRow[i] * kRow[i];
                        s[p] = d * scale;
                    }
                    VectorOps.Softmax(s);
                    var outRow = output.Slice((t * heads + h) * headDim, headDim);
                    for (int i = 0; i < headDim; i++)
                    {
                        float o = 0;
                        for (int p = 0; p < n; p++) o += s[p] * values[RowOffset(blockTable, p, blockSize, kh, kvHeads, headDim) + i];
                        outRow[i] = o;
                    }
                }
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Offset of position <paramref name="p"/>'s row for one KV head in a [blocks, kvHeads, blockSize, headDim] pool.</summary>
    public static int RowOffset(ReadOnlySpan<int> blockTable, int p, int blockSize, int kvHead, int kvHeads, int headDim)
        => ((blockTable[p / blockSize] * kvHeads + kvHead) * blockSize + p % blockSize) * headDim;
}
