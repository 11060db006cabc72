namespace OpenAutoGlm.Engine.Constraints;

/// <summary>Restricts generated tokens to those that keep the output valid (a JSON schema now; a regex or grammar later).</summary>
public interface IOutputConstraint
{
    /// <summary>Back to the empty output.</summary>
    void Reset();

    /// <summary>Appends a generated (non end-of-sequence) token's text; false, and no change, when the text is not allowed here.</summary>
    bool TryAdvance(string tokenText);

    /// <summary>Sets <paramref name="allowed"/>[id] for every token that may come next, end-of-sequence ids only when <see cref="IsComplete"/>.</summary>
    void AllowedTokens(Span<bool> allowed);

    /// <summary>The output so far is a complete document.</summary>
    bool IsComplete { get; }
}

/// <summary>A character-level acceptor whose state can be copied cheaply, as <see cref="TokenConstraint{T}"/> needs.</summary>
public interface ICharConstraint<TSelf> where TSelf : ICharConstraint<TSelf>
{
    /// <summary>Consumes one character; false when it is not allowed (the state is then unusable: advance a copy to probe).</summary>
    bool Advance(char c);

    /// <summary>What has been consumed is a complete document.</summary>
    bool CanEnd { get; }

    TSelf Clone();

    /// <summary>Makes this state equal to <paramref name="other"/> without allocating when possible.</summary>
    void CopyFrom(TSelf other);

    void Reset();
}
