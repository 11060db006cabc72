namespace OpenAutoGlm.Engine.Chat;

/// <summary>One part of a multimodal message: text, or a placeholder for an image or video the template renders as special tokens.</summary>
public sealed record ChatContentPart(string Type, string? Text = null)
{
    public static ChatContentPart FromText(string text) => new("text", text);
    public static ChatContentPart Image() => new("image");
    public static ChatContentPart Video() => new("video");
}

/// <summary>A chat message as HF templates see it: <c>role</c> and <c>content</c>, the content being a string or a list of parts.</summary>
public sealed record ChatMessage
{
    public ChatMessage(string role, string content)
    {
        Role = role;
        Content = content;
    }

    public ChatMessage(string role, IReadOnlyList<ChatContentPart> parts)
    {
        Role = role;
        Parts = parts;
    }

    public string Role { get; }
    /// <summary>Plain-text content; null when the message is made of <see cref="Parts"/>.</summary>
    public string? Content { get; }
    public IReadOnlyList<ChatContentPart>? Parts { get; }

    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}
