using System.Diagnostics;
using System.Text.Json;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Engine;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Cli;

/// <summary>The <c>autoglm</c> executable, run as a user would, against a tiny converted model.</summary>
public class CliTests(TinyLlamaFixture fixture) : IClassFixture<TinyLlamaFixture>
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "autoglm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void GenerateJsonReportsTheSameIdsAsTheApi()
    {
        var (code, output, err) = Run("generate", "--model", fixture.Tiny.ModelDirectory, "--ids", "1,10,20,30", "--max-new-tokens", "6", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(fixture.Model.Generate([1, 10, 20, 30], new GenerationOptions { MaxNewTokens = 6 }).Ids, ids);
        Assert.Equal(4, root.GetProperty("prompt_tokens").GetInt32());
        foreach (var key in new[] { "text", "ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s" })
            Assert.True(root.TryGetProperty(key, out _), key);
    }

    [Fact]
    public void BenchSweepPrintsOneObjectPerLevelAndDrawsThePlot()
    {
        using var dir = new TempDirectory();
        string png = dir.Combine("sweep.png");
        var (code, output, err) = Run("bench", "--model", fixture.Tiny.ModelDirectory, "--concurrency", "1,2", "--requests", "2",
            "--prompt-tokens", "4", "--gen-tokens", "2", "--threads", "1", "--json", "--plot", png);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal([1, 2], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("concurrency").GetInt32()));
        Assert.Equal("PNG"u8.ToArray(), File.ReadAllBytes(png)[1..4]); // the PNG signature after its first byte
    }

    [Fact]
    public void BenchPrefixReportsColdAndWarmTimeToFirstToken()
    {
        var (code, output, err) = Run("bench", "--model", fixture.Tiny.ModelDirectory, "--prefix-tokens", "32", "--suffix-tokens", "4",
            "--runs", "1", "--threads", "1", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(32, doc.RootElement.GetProperty("prefix_hit_tokens").GetInt32());
        foreach (var key in new[] { "cold_ttft_ms", "warm_ttft_ms", "speedup" })
            Assert.True(doc.RootElement.TryGetProperty(key, out _), key);
    }

    [Fact]
    public void LogitsWritesFloat32LittleEndianRows()
    {
        using var dir = new TempDirectory();
        string file = dir.Combine("logits.bin");
        var (code, _, err) = Run("logits", "--model", fixture.Tiny.ModelDirectory, "--ids", "1,5,9", "--out", file, "--all-positions");
        Assert.True(code == 0, err);
        var bytes = File.ReadAllBytes(file);
        var expected = fixture.Model.ComputeLogits([1, 5, 9], allPositions: true);
        Assert.Equal(expected.Length * 4, bytes.Length);
        for (int i = 0; i < expected.Length; i += 37)
            Assert.Equal(expected[i], BitConverter.ToSingle(bytes, i * 4));
    }

    [Fact]
    public void BadInputIsOneClearLineAndExitCodeOne()
    {
        var (code, _, err) = Run("generate", "--model", fixture.Tiny.ModelDirectory, "--ids", "1,x");
        Assert.Equal(1, code);
        Assert.Contains("'x' is not an integer token id", err);

        (code, _, err) = Run("generate", "--model", fixture.Tiny.ModelDirectory, "--ids", "1,100000");
        Assert.Equal(1, code);
        Assert.Contains("100000", err);

        (code, _, err) = Run("info", "--model", Path.Combine(fixture.Tiny.ModelDirectory, "missing"));
        Assert.Equal(1, code);
        Assert.StartsWith("autoglm: ", err);
    }

    [Fact]
    public void InfoAndVerifyDescribeAndCheckTheModel()
    {
        var (code, output, err) = Run("info", "--model", fixture.Tiny.ModelDirectory);
        Assert.True(code == 0, err);
        Assert.Contains("2 layers, dim 48", output);
        (code, output, err) = Run("verify", "--model", fixture.Tiny.ModelDirectory);
        Assert.True(code == 0, err);
        Assert.Contains("verified", output);
    }

    [Fact]
    public void VerifyNamesATamperedTensor()
    {
        using var dir = new TempDirectory();
        foreach (var f in Directory.GetFiles(fixture.Tiny.ModelDirectory)) File.Copy(f, dir.Combine(Path.GetFileName(f)));
        using (var fs = File.Open(dir.Combine("weights.bin"), FileMode.Open))
        {
            fs.Position = fs.Length - 10;
            int b = fs.ReadByte();
            fs.Position = fs.Length - 10;
            fs.WriteByte((byte)(b ^ 0x40));
        }
        var (code, _, err) = Run("verify", "--model", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("checksum", err, StringComparison.OrdinalIgnoreCase);
    }
}
