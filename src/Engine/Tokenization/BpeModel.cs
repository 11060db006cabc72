using System.Collections.Concurrent;
using System.Text;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>HF <c>BPE</c> model: per-word greedy merging by merge rank (ties leftmost), byte fallback, unknown-token fusing.</summary>
internal sealed class BpeModel
{
    private const int CacheCapacity = 10_000;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int? _unkId;
    private readonly bool _fuseUnk;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int[] _byteIds;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _spanLookup;

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string? unkToken, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        _spanLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _fuseUnk = fuseUnk;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        if (unkToken is not null)
        {
            if (!vocab.TryGetValue(unkToken, out int unk))
            {
                throw new InvalidDataException($"tokenizer.json: model.unk_token '{unkToken}' is not in model.vocab.");
            }
            _unkId = unk;
        }
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int a))
            {
                throw new InvalidDataException($"tokenizer.json: merge #{rank} ('{left}' '{right}'): '{left}' is not in model.vocab.");
            }
            if (!vocab.TryGetValue(right, out int b))
            {
                throw new InvalidDataException($"tokenizer.json: merge #{rank} ('{left}' '{right}'): '{right}' is not in model.vocab.");
            }
            if (!vocab.TryGetValue(left + right, out int merged))
            {
                throw new InvalidDataException($"tokenizer.json: merge #{rank} ('{left}' '{right}'): the merged token '{left + right}' is not in model.vocab.");
            }
            _merges.TryAdd(Key(a, b), (rank, merged));
        }
        _byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        }
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>Id of the <c>&lt;0xXX&gt;</c> token for each byte, or -1.</summary>
    public ReadOnlySpan<int> ByteIds => _byteIds;

    public bool ByteFallback => _byteFallback;

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void EncodeWord(string word, List<int> output)
    {
        if (word.Length == 0)
        {
            return;
        }
        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        if (_cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = Tokenize(word);
        if (word.Length <= 256 && _cache.Count < CacheCapacity)
        {
            _cache.TryAdd(word, ids);
        }
        output.AddRange(ids);
    }

    private int[] Tokenize(string word)
    {
        var symbols = new List<int>(word.Length);
        int pendingUnk = -1;
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            ReadOnlySpan<char> ch = word.AsSpan(i, len);
            i += len;
            if (_spanLookup.TryGetValue(ch, out int id))
            {
                if (pendingUnk >= 0)
                {
                    symbols.Add(pendingUnk);
                    pendingUnk = -1;
                }
                symbols.Add(id);
                continue;
            }
            if (_byteFallback)
            {
                int n = Encoding.UTF8.GetBytes(ch, utf8);
                bool all = true;
                for (int k = 0; k < n; k++)
                {
                    all &= _byteIds[utf8[k]] >= 0;
                }
                if (all)
                {
                    for (int k = 0; k < n; k++)
                    {
                        symbols.Add(_byteIds[utf8[k]]);
                    }
                    continue;
                }
            }
            if (_unkId is int unk)
            {
                if (pendingUnk >= 0 && !_fuseUnk)
                {
                    symbols.Add(pendingUnk);
                }
                pendingUnk = unk;
            }
        }
        if (pendingUnk >= 0)
        {
            symbols.Add(pendingUnk);
        }
        return Merge(symbols);
    }

    private int[] Merge(List<int> ids)
    {
        int n = ids.Count;
        if (n < 2 || _merges.Count == 0)
        {
            return ids.ToArray();
        }
        var c = ids.ToArray();
        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
        }
        var queue = new PriorityQueue<(int Pos, int NewId), (int Rank, int Pos)>(n);
        for (int i = 0; i + 1 < n; i++)
        {
            if (_merges.TryGetValue(Key(c[i], c[i + 1]), out var m))
            {
                queue.Enqueue((i, m.NewId), (m.Rank, i));
            }
        }
        while (queue.TryDequeue(out var top, out _))
        {
            int pos = top.Pos;
            if (!alive[pos] || next[pos] < 0)
            {
                continue;
            }
            int right = next[pos];
            if (!_merges.TryGetValue(Key(c[pos], c[right]), out var current) || current.NewId != top.NewId)
            {
                continue;
            }
            c[pos] = top.NewId;
            alive[right] = false;
            next[pos] = next[right];
            if (next[right] >= 0)
            {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0 && _merges.TryGetValue(Key(c[prev[pos]], c[pos]), out var left))
            {
                queue.Enqueue((prev[pos], left.NewId), (left.Rank, prev[pos]));
            }
            if (next[pos] >= 0 && _merges.TryGetValue(Key(c[pos], c[next[pos]]), out var after))
            {
                queue.Enqueue((pos, after.NewId), (after.Rank, pos));
            }
        }
        var result = new List<int>(n);
        for (int i = 0; i >= 0 && i < n; i = next[i])
        {
            result.Add(c[i]);
        }
        return result.ToArray();
    }
}
