namespace OpenAutoGlm.Engine.Chat;

/// <summary>A chat template that does not parse, or fails while rendering (including its own <c>raise_exception</c>).</summary>
public sealed class ChatTemplateException(string message, int line, int column)
    : Exception($"{message} (template line {line}, column {column})")
{
    /// <summary>1-based line of the template where the problem is.</summary>
    public int Line { get; } = line;
    /// <summary>1-based column of the template where the problem is.</summary>
    public int Column { get; } = column;
}
