namespace OpenAutoGlm.Engine.Constraints;

/// <summary>
/// Lifts a character-level constraint to tokens: a token may come next when its whole text is accepted from the current state,
/// and end-of-sequence only when the output is complete. One instance per generation (it keeps per-depth scratch states).
/// </summary>
public sealed class TokenConstraint<T> : IOutputConstraint where T : ICharConstraint<T>
{
    private readonly T _state;
    private readonly T _probe;
    private readonly T[] _scratch;
    private readonly TokenTrie _trie;
    private readonly int[] _endOfSequenceIds;

    public TokenConstraint(T initial, TokenTrie trie, IReadOnlyList<int> endOfSequenceIds)
    {
        _state = initial.Clone();
        _probe = initial.Clone();
        _trie = trie;
        _endOfSequenceIds = [.. endOfSequenceIds];
        _scratch = new T[trie.MaxTokenLength + 1];
        for (int i = 0; i < _scratch.Length; i++) _scratch[i] = initial.Clone();
    }

    public bool IsComplete => _state.CanEnd;

    public void Reset() => _state.Reset();

    public bool TryAdvance(string tokenText)
    {
        _probe.CopyFrom(_state);
        foreach (char c in tokenText)
            if (!_probe.Advance(c)) return false;
        _state.CopyFrom(_probe);
        return true;
    }

    public void AllowedTokens(Span<bool> allowed)
    {
        if (allowed.Length < _trie.VocabSize) throw new ArgumentException($"Need room for {_trie.VocabSize} tokens.", nameof(allowed));
        allowed.Clear();
        _trie.MarkAccepted(_state, allowed, _scratch);
        bool complete = _state.CanEnd;
        foreach (int id in _endOfSequenceIds) allowed[id] = complete;
    }
}
