namespace OpenAutoGlm.Tests.Support;

/// <summary>Real checkpoints kept outside the repository, in <c>../shared</c> beside the repository root.</summary>
public static class SharedModels
{
    /// <summary>The folder holding OpenAutoGlm.sln, found by walking up from the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The shared folder beside the repository root.</summary>
    public static string SharedRoot { get; } = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));

    public static string Directory { get; } = Path.Combine(SharedRoot, "models");

    /// <summary>stories260K in Hugging Face layout (F32, tied embeddings, tokenizer.json).</summary>
    public static string Stories260kHf { get; } = Path.Combine(Directory, "stories260k", "hf");

    /// <summary>The path of a file or folder under the shared folder, or null when it is absent.</summary>
    public static string? Get(string relative)
    {
        string path = Path.Combine(SharedRoot, relative);
        return File.Exists(path) || System.IO.Directory.Exists(path) ? path : null;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OpenAutoGlm.sln"))) return dir.FullName;
        return AppContext.BaseDirectory;
    }
}

/// <summary>A fact that is skipped, with the reason, when a file or folder under <c>../shared</c> is not present.</summary>
public sealed class RequiresSharedModelsFactAttribute : FactAttribute
{
    public RequiresSharedModelsFactAttribute(string relativePath = "models")
    {
        if (SharedModels.Get(relativePath) is null)
            Skip = $"'{relativePath}' not found under {SharedModels.SharedRoot} (the shared folder beside the repository)";
    }
}
