using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Architectures;

/// <summary>Activation buffers for up to <see cref="MaxTokens"/> tokens per step, sized once from the config, plus the worker threads that fill them.</summary>
internal sealed class RunState : IDisposable
{
    public RunState(TextConfig c, int maxTokens, int threads)
    {
        MaxTokens = maxTokens;
        VocabSize = c.VocabSize;
        int qkv = (c.NumHeads + 2 * c.NumKvHeads) * c.HeadDim, attn = c.NumHeads * c.HeadDim;
        X = new float[maxTokens * c.HiddenSize];
        Norm = new float[maxTokens * c.HiddenSize];
        Qkv = new float[maxTokens * qkv];
        Q = new float[maxTokens * attn];
        Attn = new float[maxTokens * attn];
        Proj = new float[maxTokens * c.HiddenSize];
        GateUp = new float[maxTokens * 2 * c.IntermediateSize];
        Act = new float[maxTokens * c.IntermediateSize];
        Cos = new float[maxTokens * (c.RotaryDim / 2)];
        Sin = new float[maxTokens * (c.RotaryDim / 2)];
        Logits = new float[c.VocabSize];
        Positions = new int[maxTokens];
        TableStarts = new int[maxTokens];
        Pool = new WorkerPool(threads);
    }

    public int MaxTokens { get; }
    public int VocabSize { get; }
    public WorkerPool Pool { get; }

    public readonly float[] X;      // [T, D] residual stream
    public readonly float[] Norm;   // [T, D] normalized input of a block
    public readonly float[] Qkv;    // [T, (H + 2·H_kv)·d]
    public readonly float[] Q;      // [T, H·d] rotated queries, contiguous for attention
    public readonly float[] Attn;   // [T, H·d] attention output
    public readonly float[] Proj;   // [T, D] block output before the residual add
    public readonly float[] GateUp; // [T, 2·I]
    public readonly float[] Act;    // [T, I]
    public readonly float[] Cos;    // [T, r/2]
    public readonly float[] Sin;    // [T, r/2]
    public float[] Logits;          // [rows, V]; grows only when every position is asked for
    public readonly int[] Positions;   // [T] position of each row of a ragged batch
    public readonly int[] TableStarts; // [T] where each row's block table starts in BlockTables
    public int[] BlockTables = [];     // the block tables of a ragged batch's sequences, one after another; grows as needed

    /// <summary>BlockTables with room for at least <paramref name="entries"/> entries.</summary>
    public int[] BlockTablesFor(int entries)
    {
        if (BlockTables.Length < entries) BlockTables = new int[Math.Max(entries, BlockTables.Length * 2)];
        return BlockTables;
    }

    public Span<float> LogitsFor(int rows)
    {
        if (Logits.Length < rows * VocabSize) Logits = new float[rows * VocabSize];
        return Logits.AsSpan(0, rows * VocabSize);
    }

    public void Dispose() => Pool.Dispose();
}
