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
    public static unsafe void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        ReadOnlySpan<int> blockTable, int blockSize, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        int positions = startPos + tokens;
        if (blockTable.Length * blockSize < positions)
            throw new ArgumentException($"The block table covers {blockTable.Length * blockSize} positions, {positions} are attended.", nameof(blockTable));
        if (tokens == 0) return;
        fixed (float* pq = q)
        fixed (float* pk = keys)
        fixed (float* pv = values)
        fixed (float* po = output)
        fixed (int* table = blockTable)
        {
            var body = new Body
            {
                Q = pq, K = pk, V = pv, O = po, Table = table, StartPos = startPos, BlockSize = blockSize,
                Heads = heads, KvHeads = kvHeads, Group = heads / kvHeads, HeadDim = headDim, Scale = 1f / MathF.Sqrt(headDim),
            };
            // Query rows (token, head) are independent, so they run in parallel without changing any row's arithmetic.
            pool.For(tokens * heads, ref body);
        }
    }

    private unsafe struct Body : IParallelBody
    {
        public float* Q, K, V, O;
        public int* Table;
        public int StartPos, BlockSize, Heads, KvHeads, Group, HeadDim;
        public float Scale;

        public readonly void Invoke(int index)
        {
            int t = index / Heads, h = index % Heads, kh = h / Group, n = StartPos + t + 1, d = HeadDim;
            var s = new Span<float>(ThreadScratch.Get(ThreadScratch.AttentionScores, n), n);
            float* qRow = Q + (long)index * d;
            for (int p = 0; p < n; p++)
            {
                float* kRow = K + Offset(p, kh);
                float dot = 0;
                for (int i = 0; i < d; i++) dot += qRow[i] * kRow[i];
                s[p] = dot * Scale;
            }
            VectorOps.Softmax(s);
            // Position-major, but each output element still sums its terms in position order from zero.
            float* outRow = O + (long)index * d;
            for (int i = 0; i < d; i++) outRow[i] = 0;
            for (int p = 0; p < n; p++)
            {
                float* vRow = V + Offset(p, kh);
                float w = s[p];
                for (int i = 0; i < d; i++) outRow[i] += w * vRow[i];
            }
        }

        private readonly long Offset(int p, int kvHead) => ((long)(Table[p / BlockSize] * KvHeads + kvHead) * BlockSize + p % BlockSize) * HeadDim;
    }

    /// <summary>Offset of position <paramref name="p"/>'s row for one KV head in a [blocks, kvHeads, blockSize, headDim] pool.</summary>
    public static int RowOffset(ReadOnlySpan<int> blockTable, int p, int blockSize, int kvHead, int kvHeads, int headDim)
        => ((blockTable[p / blockSize] * kvHeads + kvHead) * blockSize + p % blockSize) * headDim;
}
