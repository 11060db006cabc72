using Xunit;
namespace OpenAutoGlm.Tests.Support;

/// <summary>Locates the shared folder (<c>../shared</c> next to the repository root holding OpenAutoGlm.sln).</summary>
public static class SharedPaths
{
    public static string? Root { get; } = Find();

    public static string? Get(string relative)
    {
        if (Root is null)
        {
            return null;
        }
        string path = Path.Combine(Root, relative);
        return File.Exists(path) || Directory.Exists(path) ? path : null;
    }

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenAutoGlm.sln")))
            {
                string shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
                return Directory.Exists(shared) ? shared : null;
            }
        }
        return null;
    }
}

/// <summary>A fact that is skipped when a file under the shared folder is missing.</summary>
public sealed class RequiresSharedModelsFactAttribute : FactAttribute
{
    public RequiresSharedModelsFactAttribute(string relativePath = "models")
    {
        if (SharedPaths.Get(relativePath) is null)
        {
            Skip = $"shared file '{relativePath}' not found (expected under ../shared next to the repository root)";
        }
    }
}
