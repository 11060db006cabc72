namespace OpenAutoGlm.Engine.Serving;

/// <summary>
/// Keys and values of many sequences in one pool of fixed-size blocks (PagedAttention). Per layer the pool is
/// [blocks, kvHeads, blockSize, headDim] FP32; a sequence is a block table. Full blocks are published under a hash chain of
/// their token ids so that sequences sharing a prefix share its blocks; released published blocks stay cached (LRU) until
/// the space is needed. Reference counts track sharing. Not thread-safe: one scheduler owns it.
/// </summary>
public sealed class PagedKvCache
{
    private const ulong NoParent = 0xCBF29CE484222325UL;

    private readonly float[][] _keys, _values;
    private readonly int _kvHeads, _headDim;
    private readonly Stack<int> _free;
    private readonly int[] _refCount;
    private readonly ulong[] _hash;                 // published hash of a block (valid when _published)
    private readonly ulong[] _parentHash;
    private readonly bool[] _published;
    private readonly int[] _blockTokens;            // [blocks, blockSize] token ids of published blocks, to rule out hash collisions
    private readonly Dictionary<ulong, int> _byHash = [];
    private readonly LinkedList<int> _evictable = new();       // published, unreferenced blocks; least recently released first
    private readonly LinkedListNode<int>[] _evictableNode;

    public PagedKvCache(int layers, int kvHeads, int headDim, int blockSize, int blockCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockCount, 1);
        _kvHeads = kvHeads;
        _headDim = headDim;
        BlockSize = blockSize;
        BlockCount = blockCount;
        long floats = (long)blockCount * kvHeads * blockSize * headDim;
        if (floats > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(blockCount), blockCount, "The KV pool of one layer exceeds the largest array.");
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new float[floats];
            _values[l] = new float[floats];
        }
        _free = new Stack<int>(Enumerable.Range(0, blockCount).Reverse());
        _refCount = new int[blockCount];
        _hash = new ulong[blockCount];
        _parentHash = new ulong[blockCount];
        _published = new bool[blockCount];
        _blockTokens = new int[blockCount * blockSize];
        _evictableNode = new LinkedListNode<int>[blockCount];
        for (int b = 0; b < blockCount; b++) _evictableNode[b] = new LinkedListNode<int>(b);
    }

    public int BlockSize { get; }
    public int BlockCount { get; }
    /// <summary>Blocks that can be handed out now: never used, released, or cached but unreferenced (evicted on demand).</summary>
    public int AvailableBlocks => _free.Count + _evictable.Count;
    /// <summary>Blocks referenced by at least one sequence.</summary>
    public int UsedBlocks => BlockCount - AvailableBlocks;
    /// <summary>Unreferenced blocks kept for prefix reuse.</summary>
    public int CachedBlocks => _evictable.Count;

    /// <summary>[blocks, kvHeads, blockSize, headDim] keys of one layer.</summary>
    public float[] Keys(int layer) => _keys[layer];
    public float[] Values(int layer) => _values[layer];

    public int ReferenceCount(int block) => _refCount[block];

    /// <summary>Takes a block for a sequence's private use (evicting the least recently released cached block when nothing is free).</summary>
    public bool TryAllocate(out int block)
    {
        if (_free.Count > 0) block = _free.Pop();
        else if (_evictable.First is { } oldest)
        {
            block = oldest.Value;
            _evictable.Remove(oldest);
            Unpublish(block);
        }
        else
        {
            block = -1;
            return false;
        }
        _refCount[block] = 1;
        return true;
    }

    /// <summary>Drops one reference; an unreferenced published block stays cached for reuse, any other becomes free.</summary>
    public void Release(int block)
    {
        if (_refCount[block] <= 0) throw new InvalidOperationException($"Block {block} is not in use.");
        if (--_refCount[block] > 0) return;
        if (_published[block]) _evictable.AddLast(_evictableNode[block]);
        else _free.Push(block);
    }

    /// <summary>The hash of a full block given the hash of the blocks before it: a chain, so equal hashes mean equal prefixes.</summary>
    public static ulong ChainHash(ulong parent, ReadOnlySpan<int> tokens)
    {
        ulong h = parent;
        foreach (int t in tokens)
        {
            h ^= (uint)t;
            h *= 0x100000001B3UL;
            h ^= h >> 32;
        }
        return h * 0x9E3779B97F4A7C15UL;
    }

    /// <summary>The hash a sequence's first block chains from.</summary>
    public static ulong RootHash => NoParent;

    /// <summary>The root of a sequence whose every position depends on <paramref name="digest"/> (a content hash of what it is conditioned on).</summary>
    public static ulong RootFor(ulong digest) => ChainHash(NoParent, [unchecked((int)digest), unchecked((int)(digest >> 32))]);

    /// <summary>
    /// Takes (adds a reference to) the cached blocks holding the longest prefix of <paramref name="tokens"/>, at most
    /// <paramref name="maxBlocks"/> of them, appending them to <paramref name="table"/>. Returns the number taken and the last hash.
    /// The chain starts at <paramref name="root"/>: a sequence whose every block depends on more than its tokens (images fused by
    /// cross-attention) passes a root derived from that content, so its blocks are shared only with sequences that have it too.
    /// </summary>
    public int AcquirePrefix(ReadOnlySpan<int> tokens, int maxBlocks, List<int> table, out ulong lastHash, ulong root = NoParent)
    {
        lastHash = root;
        int taken = 0;
        while (taken < maxBlocks && (taken + 1) * BlockSize <= tokens.Length)
        {
            var blockTokens = tokens.Slice(taken * BlockSize, BlockSize);
            ulong h = ChainHash(lastHash, blockTokens);
            if (!_byHash.TryGetValue(h, out int block) || _parentHash[block] != lastHash
                || !_blockTokens.AsSpan(block * BlockSize, BlockSize).SequenceEqual(blockTokens)) break;
            if (_refCount[block]++ == 0) _evictable.Remove(_evictableNode[block]);
            table.Add(block);
            lastHash = h;
            taken++;
        }
        return taken;
    }

    /// <summary>Publishes a sequence's block once it is full; returns its hash (the parent of the next block).</summary>
    public ulong Publish(int block, ulong parentHash, ReadOnlySpan<int> tokens)
    {
        ulong h = ChainHash(parentHash, tokens);
        // A block already published with this content (another sequence computed the same prefix) stays the cached one.
        if (_published[block] || _byHash.ContainsKey(h)) return h;
        _published[block] = true;
        _hash[block] = h;
        _parentHash[block] = parentHash;
        tokens.CopyTo(_blockTokens.AsSpan(block * BlockSize, BlockSize));
        _byHash[h] = block;
        return h;
    }

    /// <summary>Stores the K and V rows of one position (rows [kvHeads·headDim] at the given offsets of a QKV row).</summary>
    public void Write(int layer, int block, int slot, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        var keys = _keys[layer].AsSpan();
        var values = _values[layer].AsSpan();
        for (int h = 0; h < _kvHeads; h++)
        {
            int dst = ((block * _kvHeads + h) * BlockSize + slot) * _headDim;
            k.Slice(h * _headDim, _headDim).CopyTo(keys.Slice(dst, _headDim));
            v.Slice(h * _headDim, _headDim).CopyTo(values.Slice(dst, _headDim));
        }
    }

    private void Unpublish(int block)
    {
        if (!_published[block]) return;
        _byHash.Remove(_hash[block]);
        _published[block] = false;
    }
}
