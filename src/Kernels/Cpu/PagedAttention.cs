using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// Causal attention of sequences whose keys and values live in fixed-size blocks of a shared pool (PagedAttention).
/// Per query row the arithmetic is exactly that of <see cref="Attention.Causal"/> (the same vector dot products in position
/// order, softmax, weighted sum in position order), so a sequence gets bit-identical results from a paged cache and from a
/// contiguous one, and a row's result does not depend on which other rows share the call.
/// </summary>
public static unsafe class PagedAttention
{
    /// <param name="q">[tokens, heads·headDim] queries at positions startPos .. startPos + tokens − 1.</param>
    /// <param name="keys">[blocks, kvHeads, blockSize, headDim]: the whole pool of one layer.</param>
    /// <param name="blockTable">Pool block of each block of positions: position p lives in blockTable[p / blockSize], slot p % blockSize.</param>
    /// <param name="output">[tokens, heads·headDim].</param>
    public static void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        ReadOnlySpan<int> blockTable, int blockSize, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Guard.NonNegative(tokens, nameof(tokens));
        Guard.NonNegative(startPos, nameof(startPos));
        int positions = startPos + tokens;
        if (blockTable.Length * blockSize < positions)
            throw new ArgumentException($"The block table covers {blockTable.Length * blockSize} positions, {positions} are attended.", nameof(blockTable));
        Validate(q, tokens, keys, values, blockTable, blockSize, heads, kvHeads, headDim, output);
        if (tokens == 0) return;
        fixed (float* pq = q)
        fixed (float* pk = keys)
        fixed (float* pv = values)
        fixed (float* po = output)
        fixed (int* table = blockTable)
            Run(pq, pk, pv, po, null, null, table, startPos, tokens, blockSize, heads, kvHeads, headDim, pool);
    }

    /// <summary>
    /// Attention for a ragged batch of query rows from several sequences in one parallel call: row t sits at position
    /// <paramref name="positions"/>[t], attends positions 0 ..= positions[t] of its sequence, and that sequence's block table
    /// starts at <paramref name="tables"/>[<paramref name="tableStarts"/>[t]]. Every (row, head) pair is one work item, so
    /// short decode rows of many sequences keep all threads busy in one fork/join.
    /// </summary>
    /// <param name="q">[rows, heads·headDim].</param>
    /// <param name="output">[rows, heads·headDim].</param>
    public static void CausalRows(ReadOnlySpan<float> q, ReadOnlySpan<int> positions, ReadOnlySpan<int> tableStarts, ReadOnlySpan<int> tables,
        ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int blockSize, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        int rows = positions.Length;
        Guard.Length(tableStarts.Length, rows, nameof(tableStarts));
        for (int t = 0; t < rows; t++)
        {
            if (positions[t] < 0) throw new ArgumentOutOfRangeException(nameof(positions), positions[t], "Positions must not be negative.");
            if (tableStarts[t] < 0 || (long)tableStarts[t] + positions[t] / blockSize >= tables.Length)
                throw new ArgumentException($"Row {t}: the block table at {tableStarts[t]} does not cover position {positions[t]}.", nameof(tables));
        }
        Validate(q, rows, keys, values, tables, blockSize, heads, kvHeads, headDim, output);
        if (rows == 0) return;
        fixed (float* pq = q)
        fixed (float* pk = keys)
        fixed (float* pv = values)
        fixed (float* po = output)
        fixed (int* pPositions = positions)
        fixed (int* pStarts = tableStarts)
        fixed (int* pTables = tables)
            Run(pq, pk, pv, po, pPositions, pStarts, pTables, 0, rows, blockSize, heads, kvHeads, headDim, pool);
    }

    private static void Validate(ReadOnlySpan<float> q, int rows, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, ReadOnlySpan<int> tables,
        int blockSize, int heads, int kvHeads, int headDim, ReadOnlySpan<float> output)
    {
        Guard.Positive(blockSize, nameof(blockSize));
        Guard.Positive(heads, nameof(heads));
        Guard.Positive(kvHeads, nameof(kvHeads));
        Guard.Positive(headDim, nameof(headDim));
        if (heads % kvHeads != 0)
            throw new ArgumentException($"heads ({heads}) must be a multiple of kvHeads ({kvHeads}).", nameof(kvHeads));
        Guard.Length(q.Length, (long)rows * heads * headDim, nameof(q));
        Guard.Length(output.Length, (long)rows * heads * headDim, nameof(output));
        long blockFloats = (long)kvHeads * blockSize * headDim;
        long poolBlocks = Math.Min(keys.Length, values.Length) / blockFloats;
        foreach (int block in tables)
            if ((uint)block >= poolBlocks)
                throw new ArgumentException($"Block {block} is outside the pool of {poolBlocks} blocks.", nameof(tables));
    }

    private static void Run(float* q, float* k, float* v, float* o, int* positions, int* tableStarts, int* tables, int startPos, int rows,
        int blockSize, int heads, int kvHeads, int headDim, WorkerPool pool)
    {
        var body = new Body
        {
            Q = q, K = k, V = v, O = o, Positions = positions, TableStarts = tableStarts, Tables = tables, StartPos = startPos,
            BlockSize = blockSize, Heads = heads, KvHeads = kvHeads, Group = heads / kvHeads, HeadDim = headDim,
            Scale = 1f / MathF.Sqrt(headDim), Isa = Isa.Current,
        };
        // Query rows (row, head) are independent, so they run in parallel without changing any row's arithmetic.
        pool.For(rows * heads, ref body);
    }

    private struct Body : IParallelBody
    {
        public float* Q, K, V, O;
        public int* Positions, TableStarts, Tables;
        public int StartPos, BlockSize, Heads, KvHeads, Group, HeadDim;
        public float Scale;
        public VectorIsa Isa;

        public readonly void Invoke(int index)
        {
            switch (Isa)
            {
                case VectorIsa.V512: Row<Simd512, Vector512<float>>(index); break;
                case VectorIsa.V256: Row<Simd256, Vector256<float>>(index); break;
                case VectorIsa.V128: Row<Simd128, Vector128<float>>(index); break;
                default: Row<SimdScalar, float>(index); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Row<TS, TV>(int index) where TS : struct, ISimd<TV> where TV : struct
        {
            int t = index / Heads, h = index % Heads, d = HeadDim, B = BlockSize;
            int n = (Positions == null ? StartPos + t : Positions[t]) + 1;
            int* table = TableStarts == null ? Tables : Tables + TableStarts[t];
            long headOffset = (long)(h / Group) * B * d, blockStride = (long)KvHeads * B * d;
            float* q = Q + (long)index * d;
            float* scores = ThreadScratch.Get(ThreadScratch.AttentionScores, n);

            for (int p0 = 0, b = 0; p0 < n; p0 += B, b++)
            {
                float* k = K + table[b] * blockStride + headOffset;
                int end = Math.Min(B, n - p0);
                for (int i = 0; i < end; i++, k += d)
                    scores[p0 + i] = Attention.Dot<TS, TV>(q, k, d) * Scale;
            }
            VectorOps.SoftmaxCore<TS, TV>(scores, n);
            WeightedSum<TS, TV>(scores, V + headOffset, table, blockStride, B, n, d, O + (long)index * d);
        }
    }

    /// <summary>
    /// o = Σ_p weights[p] · v[p, :] over paged rows (row p in block table[p / blockSize]); output columns stay in registers,
    /// 4 vectors at a time, across all p. The contiguous attention calls it with one block, so both give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void WeightedSum<TS, TV>(float* weights, float* v, int* table, long blockStride, int blockSize, int length, int d, float* o)
        where TS : struct, ISimd<TV> where TV : struct
    {
        int w = TS.Count;
        int c = 0;
        for (; c + 4 * w <= d; c += 4 * w)
        {
            TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero;
            for (int p0 = 0, b = 0; p0 < length; p0 += blockSize, b++)
            {
                float* row = v + table[b] * blockStride + c;
                int end = Math.Min(length, p0 + blockSize);
                for (int p = p0; p < end; p++, row += d)
                {
                    TV s = TS.Broadcast(weights[p]);
                    a0 = TS.Fma(s, TS.Load(row), a0);
                    a1 = TS.Fma(s, TS.Load(row + w), a1);
                    a2 = TS.Fma(s, TS.Load(row + 2 * w), a2);
                    a3 = TS.Fma(s, TS.Load(row + 3 * w), a3);
                }
            }
            TS.Store(a0, o + c);
            TS.Store(a1, o + c + w);
            TS.Store(a2, o + c + 2 * w);
            TS.Store(a3, o + c + 3 * w);
        }
        for (; c + w <= d; c += w)
        {
            TV a0 = TS.Zero;
            for (int p0 = 0, b = 0; p0 < length; p0 += blockSize, b++)
            {
                float* row = v + table[b] * blockStride + c;
                int end = Math.Min(length, p0 + blockSize);
                for (int p = p0; p < end; p++, row += d) a0 = TS.Fma(TS.Broadcast(weights[p]), TS.Load(row), a0);
            }
            TS.Store(a0, o + c);
        }
        for (; c < d; c++)
        {
            float a = 0;
            for (int p0 = 0, b = 0; p0 < length; p0 += blockSize, b++)
            {
                float* row = v + table[b] * blockStride + c;
                int end = Math.Min(length, p0 + blockSize);
                for (int p = p0; p < end; p++, row += d) a += weights[p] * *row;
            }
            o[c] = a;
        }
    }

    /// <summary>Offset of position <paramref name="p"/>'s row for one KV head in a [blocks, kvHeads, blockSize, headDim] pool.</summary>
    public static int RowOffset(ReadOnlySpan<int> blockTable, int p, int blockSize, int kvHead, int kvHeads, int headDim)
        => ((blockTable[p / blockSize] * kvHeads + kvHead) * blockSize + p % blockSize) * headDim;
}
