namespace OpenAutoGlm.Engine.Generation;

/// <summary>
/// Keys and values of several sequences, each with its own length and capacity.
/// Per sequence and layer, K and V are [kvHeads, capacity, headDim] FP32 so that a head's keys are contiguous for attention.
/// </summary>
public sealed class KvCache
{
    private readonly int _layers, _kvHeads, _headDim;
    private readonly List<Sequence?> _sequences = [];

    public KvCache(int layers, int kvHeads, int headDim)
    {
        _layers = layers;
        _kvHeads = kvHeads;
        _headDim = headDim;
    }

    /// <summary>Number of live sequences.</summary>
    public int SequenceCount { get; private set; }

    /// <summary>Adds an empty sequence that can hold <paramref name="capacity"/> positions; returns its id.</summary>
    public int AddSequence(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var seq = new Sequence(capacity, _layers, _kvHeads * capacity * _headDim);
        int id = _sequences.IndexOf(null);
        if (id < 0) { id = _sequences.Count; _sequences.Add(seq); }
        else _sequences[id] = seq;
        SequenceCount++;
        return id;
    }

    public void RemoveSequence(int id)
    {
        Get(id);
        _sequences[id] = null;
        SequenceCount--;
    }

    /// <summary>Positions already stored for the sequence.</summary>
    public int Length(int id) => Get(id).Length;

    public int Capacity(int id) => Get(id).Capacity;

    /// <summary>Marks <paramref name="count"/> more positions as stored (after every layer wrote them).</summary>
    public void Advance(int id, int count)
    {
        var s = Get(id);
        if (s.Length + count > s.Capacity)
            throw new InvalidOperationException($"KV cache sequence {id} is full: {s.Length} + {count} > capacity {s.Capacity}.");
        s.Length += count;
    }

    /// <summary>Drops every position from <paramref name="length"/> on (e.g. to reuse a prefix).</summary>
    public void Truncate(int id, int length)
    {
        var s = Get(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, s.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        s.Length = length;
    }

    /// <summary>[kvHeads, capacity, headDim] keys of one layer.</summary>
    public float[] Keys(int id, int layer) => Get(id).Keys[layer];

    /// <summary>[kvHeads, capacity, headDim] values of one layer.</summary>
    public float[] Values(int id, int layer) => Get(id).Values[layer];

    /// <summary>Writes the K and V rows of <paramref name="tokens"/> new positions starting at <paramref name="startPos"/>.</summary>
    /// <param name="k">[tokens, kvHeads·headDim] (row stride <paramref name="rowStride"/>).</param>
    internal void Write(int id, int layer, int startPos, int tokens, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int rowStride)
    {
        var s = Get(id);
        if (startPos + tokens > s.Capacity)
            throw new InvalidOperationException($"KV cache sequence {id} is full: position {startPos + tokens - 1} ≥ capacity {s.Capacity}.");
        var keys = s.Keys[layer].AsSpan();
        var values = s.Values[layer].AsSpan();
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < _kvHeads; h++)
            {
                int dst = (h * s.Capacity + startPos + t) * _headDim;
                int src = t * rowStride + h * _headDim;
                k.Slice(src, _headDim).CopyTo(keys.Slice(dst, _headDim));
                v.Slice(src, _headDim).CopyTo(values.Slice(dst, _headDim));
            }
    }

    private Sequence Get(int id)
    {
        if ((uint)id >= (uint)_sequences.Count || _sequences[id] is not { } s)
            throw new ArgumentOutOfRangeException(nameof(id), id, "No such KV cache sequence.");
        return s;
    }

    private sealed class Sequence(int capacity, int layers, int floatsPerLayer)
    {
        public readonly int Capacity = capacity;
        public int Length;
        public readonly float[][] Keys = Alloc(layers, floatsPerLayer);
        public readonly float[][] Values = Alloc(layers, floatsPerLayer);

        private static float[][] Alloc(int layers, int n)
        {
            var a = new float[layers][];
            for (int i = 0; i < layers; i++) a[i] = GC.AllocateUninitializedArray<float>(n);
            return a;
        }
    }
}
