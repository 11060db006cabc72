using OpenAutoGlm.Engine.Serving;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Architectures;

/// <summary>
/// One sequence's tokens within a ragged batch: ids[Offset .. Offset + Count) at positions StartPos.., K/V in the blocks of BlockTable;
/// Fusion, when set, mixes that sequence's images into its rows only (token insertion at its embeddings, cross-attention after its layers).
/// </summary>
internal readonly record struct BatchSegment(int Offset, int Count, int StartPos, int[] BlockTable, bool WantsLogits, IFusionStep? Fusion = null);

internal sealed unsafe partial class TextDecoder
{
    /// <summary>
    /// One forward over several sequences at once, without padding: every sequence's tokens are concatenated for the
    /// row-wise work (norms, matrix products, rotary, MLP) and attention runs per sequence over its paged K/V.
    /// Each row's arithmetic is independent of the other rows, so a sequence's results do not depend on the batch around it.
    /// Writes the last-token logits of every segment with <see cref="BatchSegment.WantsLogits"/>, in segment order, to s.Logits.
    /// </summary>
    /// <returns>The number of logits rows written.</returns>
    public int ForwardBatch(RunState s, PagedKvCache cache, ReadOnlySpan<int> ids, ReadOnlySpan<BatchSegment> segments)
    {
        var c = Config;
        int T = ids.Length, D = c.HiddenSize;
        if (T > s.MaxTokens) throw new ArgumentException($"At most {s.MaxTokens} tokens per forward step, got {T}.", nameof(ids));
        var pool = s.Pool;
        var x = s.X.AsSpan(0, T * D);
        var norm = s.Norm.AsSpan(0, T * D);

        Embedding.Gather(_embedding, D, ids, x);
        int entries = 0;
        foreach (var seg in segments) entries += seg.BlockTable.Length;
        var tables = s.BlockTablesFor(entries);
        entries = 0;
        int covered = 0;
        foreach (var seg in segments)
        {
            seg.Fusion?.OnEmbeddings(x.Slice(seg.Offset * D, seg.Count * D), seg.Count, seg.StartPos);
            seg.BlockTable.CopyTo(tables, entries);
            for (int i = 0; i < seg.Count; i++)
            {
                int row = seg.Offset + i;
                FillRotaryRow(s, row, seg.StartPos + i);
                s.Positions[row] = seg.StartPos + i;
                s.TableStarts[row] = entries;
            }
            entries += seg.BlockTable.Length;
            covered += seg.Count;
        }
        if (covered != T) throw new ArgumentException($"The segments cover {covered} of the {T} rows.", nameof(segments));
        var attention = new PagedAttentionStep(cache, segments, s, T, entries, c);
        RunLayers(s, T, ref attention, SegmentFusion.Of(segments, D));

        int rows = 0;
        foreach (var seg in segments)
        {
            if (!seg.WantsLogits) continue;
            int last = seg.Offset + seg.Count - 1;
            RmsNorm.Forward(x.Slice(last * D, D), new ReadOnlySpan<float>(_outputNorm, D), (float)c.RmsNormEps, norm.Slice(rows * D, D), 1);
            rows++;
        }
        if (rows > 0) Head(norm[..(rows * D)], rows, s.LogitsFor(rows), pool);
        return rows;
    }

    /// <summary>The fusion steps of a batch's segments, each applied to its own segment's rows; null when no segment has one.</summary>
    private sealed class SegmentFusion(int width, (int Offset, int Count, IFusionStep Fusion)[] parts) : IFusionStep
    {
        public static SegmentFusion? Of(ReadOnlySpan<BatchSegment> segments, int width)
        {
            int n = 0;
            foreach (var seg in segments) if (seg.Fusion is not null) n++;
            if (n == 0) return null;
            var parts = new (int, int, IFusionStep)[n];
            n = 0;
            foreach (var seg in segments) if (seg.Fusion is { } f) parts[n++] = (seg.Offset, seg.Count, f);
            return new SegmentFusion(width, parts);
        }

        public bool AppliesTo(int layer)
        {
            foreach (var p in parts) if (p.Fusion.AppliesTo(layer)) return true;
            return false;
        }

        public void Apply(int layer, Span<float> x, int tokens, WorkerPool pool)
        {
            foreach (var (offset, count, fusion) in parts)
                if (fusion.AppliesTo(layer)) fusion.Apply(layer, x.Slice(offset * width, count * width), count, pool);
        }
    }

    /// <summary>A ragged batch: each segment's rows write K/V into its blocks; then every row attends over its own sequence's paged history, all rows in one parallel call.</summary>
    private readonly ref struct PagedAttentionStep(PagedKvCache cache, ReadOnlySpan<BatchSegment> segments, RunState s, int rows, int entries, TextConfig c)
        : IAttentionStep
    {
        private readonly ReadOnlySpan<BatchSegment> _segments = segments;

        public void Run(int layer, Span<float> qkv, Span<float> q, Span<float> attn, WorkerPool pool)
        {
            int H = c.NumHeads, Hkv = c.NumKvHeads, d = c.HeadDim, width = (H + 2 * Hkv) * d, B = cache.BlockSize;
            foreach (var seg in _segments)
            {
                for (int i = 0; i < seg.Count; i++)
                {
                    int p = seg.StartPos + i;
                    var row = qkv.Slice((seg.Offset + i) * width, width);
                    cache.Write(layer, seg.BlockTable[p / B], p % B, row.Slice(H * d, Hkv * d), row.Slice((H + Hkv) * d, Hkv * d));
                }
            }
            PagedAttention.CausalRows(q, s.Positions.AsSpan(0, rows), s.TableStarts.AsSpan(0, rows), s.BlockTables.AsSpan(0, entries),
                cache.Keys(layer), cache.Values(layer), B, H, Hkv, d, attn, pool);
        }
    }
}
