using System.Diagnostics;
using System.Text.Json;
using OpenAutoGlm.Convert;
using OpenAutoGlm.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OpenAutoGlm.Tests.Multimodal;

/// <summary>The autoglm executable with --image, --resolution and the embed command, run as a separate process.</summary>
public class MultimodalCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "autoglm.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd(), error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, error);
    }

    [Fact]
    public void GenerateLogitsAndEmbedAcceptImages()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { Architecture = TinyCheckpoint.OpenAutoGlmArchitecture });
        HfConverter.Convert(dir.Combine("hf"), dir.Combine("model"), new ConvertOptions());
        string png = dir.Combine("a.png");
        using (var img = new Image<Rgb24>(16, 16))
        {
            var random = new Random(1);
            for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) img[x, y] = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            img.SaveAsPng(png);
        }

        var gen = Run("generate", "-m", dir.Combine("model"), "--ids", "1,5,9", "--image", png, "--image", png, "--resolution", "16", "-n", "3", "--json", "-t", "1");
        Assert.True(gen.Code == 0, gen.Err);
        using (var doc = JsonDocument.Parse(gen.Out))
        {
            var images = doc.RootElement.GetProperty("images");
            Assert.Equal(2, images.GetArrayLength());
            Assert.Equal(16, images[0].GetProperty("resolution").GetInt32());
            Assert.Equal(16, images[0].GetProperty("tokens").GetInt32());
            Assert.True(images[0].GetProperty("valid").GetBoolean());
            Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("task_class").ValueKind);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("preset").ValueKind);
            Assert.True(doc.RootElement.GetProperty("vision_ms").GetDouble() >= 0);
        }

        var logits = Run("logits", "-m", dir.Combine("model"), "--ids", "1,5,9", "--image", png, "-o", dir.Combine("l.bin"), "--json", "-t", "1");
        Assert.True(logits.Code == 0, logits.Err);
        Assert.Equal(97 * 4, new FileInfo(dir.Combine("l.bin")).Length);
        using (var doc = JsonDocument.Parse(logits.Out)) Assert.Equal(1, doc.RootElement.GetProperty("images").GetArrayLength());

        var embedImage = Run("embed", "-m", dir.Combine("model"), "--image", png, "--resolution", "8", "--json", "-t", "1");
        Assert.True(embedImage.Code == 0, embedImage.Err);
        using (var doc = JsonDocument.Parse(embedImage.Out))
        {
            var e = doc.RootElement.GetProperty("embedding").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(16, e.Length);
            Assert.Equal(1.0, Math.Sqrt(e.Sum(v => v * v)), 1e-4);
        }
        var embedIds = Run("embed", "-m", dir.Combine("model"), "--ids", "1,2,3", "--json", "-t", "1");
        Assert.True(embedIds.Code == 0, embedIds.Err);
        using (var doc = JsonDocument.Parse(embedIds.Out)) Assert.Equal(16, doc.RootElement.GetProperty("embedding").GetArrayLength());

        Directory.CreateDirectory(dir.Combine("gallery"));
        File.Copy(png, dir.Combine("gallery", "a.png"));
        File.Copy(png, dir.Combine("gallery", "b.png"));
        var retrieve = Run("retrieve", "-m", dir.Combine("model"), "--gallery", dir.Combine("gallery"), "--ids", "1,2,3", "--top", "1", "--json", "-t", "1");
        Assert.True(retrieve.Code == 0, retrieve.Err);
        using (var doc = JsonDocument.Parse(retrieve.Out)) Assert.Equal(1, doc.RootElement.GetProperty("results").GetArrayLength());
        Assert.Contains("2 embedded now", retrieve.Err);
        Assert.True(File.Exists(dir.Combine("gallery", ".autoglm-index.json")));

        // the cached index serves unchanged images; a rewritten file (new write time) or a new file is embedded again
        var again = Run("retrieve", "-m", dir.Combine("model"), "--gallery", dir.Combine("gallery"), "--image", png, "--top", "2", "--json", "-t", "1");
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("0 embedded now, 2 from", again.Err);
        using (var doc = JsonDocument.Parse(again.Out))
        {
            var results = doc.RootElement.GetProperty("results");
            Assert.Equal(results[0].GetProperty("score").GetDouble(), results[1].GetProperty("score").GetDouble(), 5); // same picture twice
        }
        File.SetLastWriteTimeUtc(dir.Combine("gallery", "b.png"), DateTime.UtcNow.AddMinutes(1));
        File.Copy(png, dir.Combine("gallery", "c.png"));
        var changed = Run("retrieve", "-m", dir.Combine("model"), "--gallery", dir.Combine("gallery"), "--ids", "1,2,3", "--json", "-t", "1");
        Assert.Contains("2 embedded now, 1 from", changed.Err);

        var bench = Run("bench", "-m", dir.Combine("model"), "--image", png, "--resolution", "16", "--prompt-tokens", "4", "--runs", "1", "--json", "-t", "1");
        Assert.True(bench.Code == 0, bench.Err);
        using (var doc = JsonDocument.Parse(bench.Out))
        {
            Assert.Equal(16, doc.RootElement.GetProperty("image_tokens").GetInt32());
            Assert.True(doc.RootElement.GetProperty("vision_encoder_ms").GetDouble() > 0);
            Assert.True(doc.RootElement.GetProperty("ttft_ms").GetDouble() > 0);
            Assert.InRange(doc.RootElement.GetProperty("vision_encoder_fma_fraction").GetDouble(), 1e-6, 10);
        }

        File.WriteAllBytes(dir.Combine("bad.png"), [0x89, 0x50, 0x4E, 0x47]);
        var bad = Run("generate", "-m", dir.Combine("model"), "--ids", "1", "--image", dir.Combine("bad.png"), "-n", "1");
        Assert.Equal(1, bad.Code);
        Assert.Contains("bad.png", bad.Err);
    }

    [Fact]
    public void GenerateRunsLlavaWithAnImage()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { Architecture = TinyCheckpoint.LlavaArchitecture });
        HfConverter.Convert(dir.Combine("hf"), dir.Combine("model"), new ConvertOptions());
        string png = dir.Combine("a.png");
        using (var img = new Image<Rgb24>(30, 20, new Rgb24(10, 200, 30))) img.SaveAsPng(png);
        var gen = Run("generate", "-m", dir.Combine("model"), "--ids", "1,96,5", "--image", png, "-n", "2", "--json", "-t", "1");
        Assert.True(gen.Code == 0, gen.Err);
        using var doc = JsonDocument.Parse(gen.Out);
        Assert.Equal(16, doc.RootElement.GetProperty("images")[0].GetProperty("tokens").GetInt32());
        Assert.Equal(18, doc.RootElement.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("task_class").ValueKind);
    }

    [Fact]
    public void EmbedAndRetrieveRunClip()
    {
        using var dir = new TempDirectory();
        string tokenizer = TinyTokenizer.Write(dir.Combine("tokenizer.json"));
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            Architecture = TinyCheckpoint.ClipArchitecture, VocabSize = TinyTokenizer.VocabSize, BosTokenId = TinyTokenizer.Bos,
            EosTokenIds = [TinyTokenizer.Eos], TokenizerJsonPath = tokenizer,
        });
        HfConverter.Convert(dir.Combine("hf"), dir.Combine("model"), new ConvertOptions());
        Directory.CreateDirectory(dir.Combine("gallery"));
        for (int k = 0; k < 2; k++)
        {
            using var img = new Image<Rgb24>(24 + 8 * k, 16, new Rgb24((byte)(40 * k), 120, 200));
            img.SaveAsPng(dir.Combine("gallery", $"{k}.png"));
        }

        var embedImage = Run("embed", "-m", dir.Combine("model"), "--image", dir.Combine("gallery", "0.png"), "--json", "-t", "1");
        Assert.True(embedImage.Code == 0, embedImage.Err);
        using (var doc = JsonDocument.Parse(embedImage.Out))
        {
            var e = doc.RootElement.GetProperty("embedding").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(16, e.Length);
            Assert.Equal(1.0, Math.Sqrt(e.Sum(v => v * v)), 1e-4);
            Assert.Equal(16, doc.RootElement.GetProperty("resolution").GetInt32());
        }
        var embedText = Run("embed", "-m", dir.Combine("model"), "--text", "a photo", "--json", "-t", "1");
        Assert.True(embedText.Code == 0, embedText.Err);
        using (var doc = JsonDocument.Parse(embedText.Out)) Assert.Equal(16, doc.RootElement.GetProperty("embedding").GetArrayLength());

        var retrieve = Run("retrieve", "-m", dir.Combine("model"), "--gallery", dir.Combine("gallery"), "--query", "a photo", "--top", "2", "--json", "-t", "1");
        Assert.True(retrieve.Code == 0, retrieve.Err);
        using (var doc = JsonDocument.Parse(retrieve.Out)) Assert.Equal(2, doc.RootElement.GetProperty("results").GetArrayLength());

        var generate = Run("generate", "-m", dir.Combine("model"), "--ids", "1,2", "-n", "1");
        Assert.Equal(1, generate.Code);
        Assert.Contains("no decoder", generate.Err);

        var bench = Run("bench", "-m", dir.Combine("model"), "--image", dir.Combine("gallery", "1.png"), "--runs", "1", "--json", "-t", "1");
        Assert.True(bench.Code == 0, bench.Err);
        using (var doc = JsonDocument.Parse(bench.Out))
        {
            Assert.Equal(16, doc.RootElement.GetProperty("image_tokens").GetInt32());
            Assert.False(doc.RootElement.TryGetProperty("ttft_ms", out _));
        }
    }
}
