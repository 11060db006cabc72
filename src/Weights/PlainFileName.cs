namespace OpenAutoGlm.Weights;

/// <summary>File names read from a manifest or index must stay inside their directory.</summary>
internal static class PlainFileName
{
    public static bool IsValid(string? name) =>
        name is { Length: > 0 } and not "." and not ".." && name.IndexOfAny(['/', '\\', '\0']) < 0 && !Path.IsPathRooted(name);
}
