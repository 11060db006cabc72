using Xunit;
namespace OpenAutoGlm.Tests.Support;

/// <summary>Real checkpoints kept outside the repository, in <c>../shared/models</c> beside the repository root.</summary>
public static class SharedModels
{
    /// <summary>The folder holding OpenAutoGlm.sln, found by walking up from the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Directory { get; } = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "models"));

    /// <summary>stories260K in Hugging Face layout (F32, tied embeddings, tokenizer.json).</summary>
    public static string Stories260kHf { get; } = Path.Combine(Directory, "stories260k", "hf");

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OpenAutoGlm.sln"))) return dir.FullName;
        return AppContext.BaseDirectory;
    }
}

/// <summary>A fact that is skipped, with the reason, when <c>../shared/models</c> is not present.</summary>
public sealed class RequiresSharedModelsFactAttribute : FactAttribute
{
    public RequiresSharedModelsFactAttribute()
    {
        if (!System.IO.Directory.Exists(SharedModels.Directory))
            Skip = $"shared models not found at {SharedModels.Directory}";
    }
}
