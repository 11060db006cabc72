namespace OpenAutoGlm.Engine.Constraints;

/// <summary>
/// The vocabulary's token texts as a character trie, so that tokens sharing a prefix share the work of checking it.
/// Immutable and thread-safe: build one per vocabulary and share it.
/// </summary>
public sealed class TokenTrie
{
    // Node n's children are edges _childStart[n] .. _childStart[n + 1]; its tokens are _tokens[_tokenStart[n] .. _tokenStart[n + 1]].
    private readonly int[] _childStart;
    private readonly char[] _edgeChar;
    private readonly int[] _edgeNode;
    private readonly int[] _tokenStart;
    private readonly int[] _tokens;

    /// <param name="tokenTexts">Decoded text per token id. Give special tokens that must never be generated an empty text.</param>
    public TokenTrie(IReadOnlyList<string> tokenTexts)
    {
        TokenTexts = tokenTexts;
        var children = new List<SortedList<char, int>> { new() };
        var tokensAt = new List<List<int>?> { null };
        for (int id = 0; id < tokenTexts.Count; id++)
        {
            string text = tokenTexts[id];
            if (text.Length == 0) continue;
            int node = 0;
            foreach (char c in text)
            {
                if (!children[node].TryGetValue(c, out int next))
                {
                    next = children.Count;
                    children.Add(new SortedList<char, int>());
                    tokensAt.Add(null);
                    children[node].Add(c, next);
                }
                node = next;
            }
            (tokensAt[node] ??= []).Add(id);
            MaxTokenLength = Math.Max(MaxTokenLength, text.Length);
        }

        int nodes = children.Count;
        _childStart = new int[nodes + 1];
        _tokenStart = new int[nodes + 1];
        for (int n = 0; n < nodes; n++)
        {
            _childStart[n + 1] = _childStart[n] + children[n].Count;
            _tokenStart[n + 1] = _tokenStart[n] + (tokensAt[n]?.Count ?? 0);
        }
        _edgeChar = new char[_childStart[nodes]];
        _edgeNode = new int[_childStart[nodes]];
        _tokens = new int[_tokenStart[nodes]];
        for (int n = 0; n < nodes; n++)
        {
            int e = _childStart[n];
            foreach (var (c, child) in children[n])
            {
                _edgeChar[e] = c;
                _edgeNode[e++] = child;
            }
            tokensAt[n]?.CopyTo(_tokens, _tokenStart[n]);
        }
    }

    public IReadOnlyList<string> TokenTexts { get; }
    public int VocabSize => TokenTexts.Count;
    public int MaxTokenLength { get; }

    /// <summary>
    /// Sets <paramref name="allowed"/>[id] for every token whose whole text <paramref name="state"/> accepts (others are left alone).
    /// <paramref name="scratch"/> holds one state per trie depth (<see cref="MaxTokenLength"/> + 1 of them), reused between calls.
    /// </summary>
    public void MarkAccepted<T>(T state, Span<bool> allowed, T[] scratch) where T : ICharConstraint<T>
    {
        if (scratch.Length <= MaxTokenLength) throw new ArgumentException($"Need {MaxTokenLength + 1} scratch states.", nameof(scratch));
        Span<int> node = MaxTokenLength < 256 ? stackalloc int[MaxTokenLength + 1] : new int[MaxTokenLength + 1];
        Span<int> cursor = MaxTokenLength < 256 ? stackalloc int[MaxTokenLength + 1] : new int[MaxTokenLength + 1];
        scratch[0].CopyFrom(state);
        int depth = 0;
        node[0] = 0;
        cursor[0] = _childStart[0];
        while (depth >= 0)
        {
            if (cursor[depth] == _childStart[node[depth] + 1]) { depth--; continue; }
            int edge = cursor[depth]++;
            var next = scratch[depth + 1];
            next.CopyFrom(scratch[depth]);
            if (!next.Advance(_edgeChar[edge])) continue;
            int child = _edgeNode[edge];
            for (int t = _tokenStart[child]; t < _tokenStart[child + 1]; t++) allowed[_tokens[t]] = true;
            if (_childStart[child] == _childStart[child + 1]) continue;
            depth++;
            node[depth] = child;
            cursor[depth] = _childStart[child];
        }
    }
}
