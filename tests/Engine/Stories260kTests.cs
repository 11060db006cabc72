using System.Text.Json;
using OpenAutoGlm.Convert;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Engine;

/// <summary>The real 260K-parameter TinyStories Llama: the engine must reproduce llama2.c's published greedy output.</summary>
public sealed class Stories260kFixture : IDisposable
{
    private readonly TempDirectory _dir = new();
    public AutoGlmModel? Model { get; }

    public Stories260kFixture()
    {
        if (!Directory.Exists(SharedModels.Stories260kHf)) return;
        HfConverter.Convert(SharedModels.Stories260kHf, _dir.Path, new ConvertOptions());
        Model = AutoGlmModel.Load(_dir.Path, new ModelOptions { Threads = 2 });
    }

    public void Dispose()
    {
        Model?.Dispose();
        _dir.Dispose();
    }
}

public class Stories260kTests(Stories260kFixture fixture) : IClassFixture<Stories260kFixture>
{
    private const string Folder = "models/stories260k";

    private static int[] ExpectedIds()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedModels.Get($"{Folder}/expected_greedy_200_ids.json")!));
        return doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [RequiresSharedModelsFact(Folder)]
    public void GreedyFromBosReproducesTheTwoHundredPublishedIds()
    {
        var result = fixture.Model!.Generate([1], new GenerationOptions { MaxNewTokens = 200 });
        Assert.Equal(ExpectedIds(), result.Ids);
        Assert.Equal(File.ReadAllText(SharedModels.Get($"{Folder}/expected_greedy_200.txt")!), result.Text);
    }

    [RequiresSharedModelsFact(Folder)]
    public void StreamedTextEqualsTheWholeText()
    {
        var tokens = new List<string>();
        var result = fixture.Model!.Generate([1], new GenerationOptions { MaxNewTokens = 60 }, t => tokens.Add(t.Text));
        Assert.Equal(result.Text, string.Concat(tokens));
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", result.Text);
    }

    [RequiresSharedModelsFact(Folder)]
    public void PromptTextIsTokenizedWithBos()
    {
        var result = fixture.Model!.Generate("Once upon a time", new GenerationOptions { MaxNewTokens = 8 });
        Assert.Equal(5, result.PromptTokens); // <s> Once upon a time
        Assert.Equal(ExpectedIds()[4..12], result.Ids);
    }

    [RequiresSharedModelsFact(Folder)]
    public void StopStringCutsTheText()
    {
        var result = fixture.Model!.Generate([1], new GenerationOptions { MaxNewTokens = 100, StopStrings = ["Lily."] });
        Assert.Equal(FinishReason.StopString, result.FinishReason);
        Assert.Equal("Once upon a time, there was a little girl named ", result.Text);
    }
}
