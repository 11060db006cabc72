using OpenAutoGlm.Engine.Serving;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Architectures;

/// <summary>One sequence's tokens within a ragged batch: ids[Offset .. Offset + Count) at positions StartPos.., K/V in the blocks of BlockTable.</summary>
internal readonly record struct BatchSegment(int Offset, int Count, int StartPos, int[] BlockTable, bool WantsLogits);

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
        int T = ids.Length, D = c.HiddenSize, H = c.NumHeads, Hkv = c.NumKvHeads, d = c.HeadDim, I = c.IntermediateSize;
        if (T > s.MaxTokens) throw new ArgumentException($"At most {s.MaxTokens} tokens per forward step, got {T}.", nameof(ids));
        int B = cache.BlockSize, half = _invFreq.Length;
        var pool = s.Pool;

        var x = s.X.AsSpan(0, T * D);
        var norm = s.Norm.AsSpan(0, T * D);
        var qkv = s.Qkv.AsSpan(0, T * QkvWidth);
        var q = s.Q.AsSpan(0, T * H * d);
        var attn = s.Attn.AsSpan(0, T * H * d);
        var proj = s.Proj.AsSpan(0, T * D);
        var gateUp = s.GateUp.AsSpan(0, T * 2 * I);
        var act = s.Act.AsSpan(0, T * I);

        Embedding.Gather(_embedding, D, ids, x);
        foreach (var seg in segments)
            for (int i = 0; i < seg.Count; i++)
                for (int f = 0; f < half; f++)
                {
                    float angle = (seg.StartPos + i) * _invFreq[f]; // fp32 angle, as in Forward
                    s.Cos[(seg.Offset + i) * half + f] = MathF.Cos(angle);
                    s.Sin[(seg.Offset + i) * half + f] = MathF.Sin(angle);
                }

        for (int l = 0; l < _layers.Length; l++)
        {
            ref readonly var w = ref _layers[l];
            RmsNorm.Forward(x, new ReadOnlySpan<float>(w.AttnNorm, D), (float)c.RmsNormEps, norm, T);
            MatMul.Multiply(norm, T, D, w.Qkv, QkvWidth, qkv, pool);
            if (w.QkvBias != null) VectorOps.AddBias(qkv, T, new ReadOnlySpan<float>(w.QkvBias, QkvWidth));
            bool interleaved = c.RopeLayout == RopeLayouts.Interleaved;
            for (int t = 0; t < T; t++)
            {
                var row = qkv.Slice(t * QkvWidth, QkvWidth);
                var cos = s.Cos.AsSpan(t * half, half);
                var sin = s.Sin.AsSpan(t * half, half);
                Rope.Apply(row[..(H * d)], H, d, c.RotaryDim, interleaved, cos, sin);
                Rope.Apply(row.Slice(H * d, Hkv * d), Hkv, d, c.RotaryDim, interleaved, cos, sin);
                row[..(H * d)].CopyTo(q.Slice(t * H * d, H * d));
            }
            foreach (var seg in segments)
            {
                for (int i = 0; i < seg.Count; i++)
                {
                    int p = seg.StartPos + i;
                    var row = qkv.Slice((seg.Offset + i) * QkvWidth, QkvWidth);
                    cache.Write(l, seg.BlockTable[p / B], p % B, row.Slice(H * d, Hkv * d), row.Slice((H + Hkv) * d, Hkv * d));
                }
                PagedAttention.Causal(q.Slice(seg.Offset * H * d, seg.Count * H * d), seg.Count, seg.StartPos, cache.Keys(l), cache.Values(l),
                    seg.BlockTable, B, H, Hkv, d, attn.Slice(seg.Offset * H * d, seg.Count * H * d), pool);
            }
            MatMul.Multiply(attn, T, H * d, w.Out, D, proj, pool);
            if (w.OutBias != null) VectorOps.AddBias(proj, T, new ReadOnlySpan<float>(w.OutBias, D));
            if (w.AttnPostNorm != null) RmsNorm.Forward(proj, new ReadOnlySpan<float>(w.AttnPostNorm, D), (float)c.RmsNormEps, proj, T);
            VectorOps.Add(x, proj);

            RmsNorm.Forward(x, new ReadOnlySpan<float>(w.FfnNorm, D), (float)c.RmsNormEps, norm, T);
            MatMul.Multiply(norm, T, D, w.GateUp, 2 * I, gateUp, pool);
            Activations.SwiGlu(gateUp, T, I, act);
            MatMul.Multiply(act, T, I, w.Down, D, proj, pool);
            if (w.FfnPostNorm != null) RmsNorm.Forward(proj, new ReadOnlySpan<float>(w.FfnPostNorm, D), (float)c.RmsNormEps, proj, T);
            VectorOps.Add(x, proj);
        }

        int rows = 0;
        foreach (var seg in segments)
        {
            if (!seg.WantsLogits) continue;
            int last = seg.Offset + seg.Count - 1;
            RmsNorm.Forward(x.Slice(last * D, D), new ReadOnlySpan<float>(_outputNorm, D), (float)c.RmsNormEps, norm.Slice(rows * D, D), 1);
            rows++;
        }
        if (rows > 0) MatMul.Multiply(norm[..(rows * D)], rows, D, _head, c.VocabSize, s.LogitsFor(rows), pool);
        return rows;
    }
}
