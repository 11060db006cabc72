using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Multimodal;

/// <summary>
/// The embedded demo model against the PyTorch reference that trained it (tools/demo-model/golden.py): teacher-forced logits,
/// greedy answers, instruction classes, imputation, image statistics and retrieval scores. The model directory holds the
/// converted model and the golden.json PyTorch wrote for it.
/// </summary>
public sealed class RequiresDemoModelFactAttribute : FactAttribute
{
    /// <param name="relative">A model directory relative to the repository root; <c>AUTOGLM_DEMO_MODEL</c> overrides "models/demo".</param>
    public RequiresDemoModelFactAttribute(string relative)
    {
        string dir = Resolve(relative);
        if (!File.Exists(Path.Combine(dir, "golden.json")) || !File.Exists(Path.Combine(dir, "model.json")))
            Skip = $"no converted demo model with golden.json at {dir} (made by tools/demo-model: train, export, convert, golden)";
    }

    public static string Resolve(string relative) =>
        relative == "models/demo" && Environment.GetEnvironmentVariable("AUTOGLM_DEMO_MODEL") is { Length: > 0 } d
            ? d : Path.Combine(SharedModels.RepositoryRoot, relative);
}

public class DemoModelGoldenTests
{
    private static readonly string Examples = Path.Combine(SharedModels.RepositoryRoot, "examples");

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private static double RelativeError(ReadOnlySpan<float> actual, float[] expected)
    {
        double diff = 0, max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(actual[i] - expected[i]));
            max = Math.Max(max, Math.Abs(expected[i]));
        }
        return diff / max;
    }

    /// <summary>The 200-step smoke model committed with the tests: always present.</summary>
    [RequiresDemoModelFact("tests/Data/demo-smoke")]
    public void SmokeModelReproducesThePyTorchReference() => ReproducesThePyTorchReference("tests/Data/demo-smoke");

    /// <summary>The fully trained demo model, once it is shipped.</summary>
    [RequiresDemoModelFact("models/demo")]
    public void DemoModelReproducesThePyTorchReference() => ReproducesThePyTorchReference("models/demo");

    private static void ReproducesThePyTorchReference(string relative)
    {
        string dir = RequiresDemoModelFactAttribute.Resolve(relative);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        using var model = AutoGlmModel.Load(dir, new ModelOptions { Threads = 2 });
        var golden = doc.RootElement;

        foreach (var (name, g) in golden.GetProperty("images").EnumerateObject().Select(p => (p.Name, p.Value)))
        {
            var e = model.EmbedImage(ImageInput.FromFile(Path.Combine(Examples, name)));
            Assert.Equal(g.GetProperty("resolution").GetInt32(), e.Image.Resolution);
            Assert.Equal(g.GetProperty("valid").GetBoolean(), e.Image.Valid);
            Assert.Equal(g.GetProperty("confidence").GetDouble(), e.Image.Confidence, 4);
            Assert.Equal(g.GetProperty("complexity").GetDouble(), e.Image.Complexity, 4);
            if (!g.GetProperty("resized").GetBoolean())
                Assert.InRange(RelativeError(e.Embedding, Floats(g.GetProperty("z_img"))), 0, 1e-3);
        }

        foreach (var r in golden.GetProperty("requests").EnumerateArray())
        {
            var images = r.GetProperty("images").EnumerateArray().Select(x => ImageInput.FromFile(Path.Combine(Examples, x.GetString()!))).ToArray();
            var prompt = Ints(r.GetProperty("prompt_ids"));
            var greedy = Ints(r.GetProperty("greedy_ids"));
            string what = $"'{r.GetProperty("question").GetString()}' with [{string.Join(", ", r.GetProperty("images").EnumerateArray())}]";

            var result = model.Generate(prompt, images, new GenerationOptions { MaxNewTokens = greedy.Length + 4 },
                new ImageRequestOptions { UseDecodingPreset = false });
            Assert.Equal(r.GetProperty("instruction_class").GetString(), result.Instruction?.TaskClass);
            Assert.Equal(r.GetProperty("imputed").ValueKind == JsonValueKind.Array, result.Imputed);
            if (!r.GetProperty("exact_parity").GetBoolean()) continue; // resampled images: bicubic filters differ between libraries
            int eos = Array.IndexOf(greedy, 2);
            Assert.True(greedy[..(eos < 0 ? greedy.Length : eos)].SequenceEqual(result.Generation.Ids), $"{what}: greedy ids differ");
            Assert.Equal(r.GetProperty("greedy_text").GetString(), result.Generation.Text);

            // Teacher-forced over prompt + answer. The imputer's ē averages the prompt alone, so imputed requests are
            // compared on the prompt's positions, where the sequence given is the prompt.
            bool imputed = result.Imputed;
            int[] full = imputed ? prompt : [.. prompt, .. greedy];
            var logits = model.ComputeLogits(full, images, allPositions: true).Logits;
            int v = model.VocabSize;
            foreach (var p in r.GetProperty("logits").EnumerateObject())
            {
                int pos = int.Parse(p.Name);
                if (pos >= full.Length) continue;
                double err = RelativeError(logits.AsSpan(pos * v, v), Floats(p.Value));
                Assert.True(err < 1e-3, $"{what}: position {pos} relative logit error {err:E2}");
            }
        }

        var retrieval = golden.GetProperty("retrieval");
        var textIds = retrieval.GetProperty("text_ids").EnumerateArray().Select(Ints).ToArray();
        var imageNames = retrieval.GetProperty("images").EnumerateArray().Select(x => x.GetString()!).ToArray();
        var scores = retrieval.GetProperty("scores").EnumerateArray().Select(Floats).ToArray();
        var zTxt = textIds.Select(model.EmbedText).ToArray();
        for (int i = 0; i < imageNames.Length; i++)
        {
            var zImg = model.EmbedImage(ImageInput.FromFile(Path.Combine(Examples, imageNames[i]))).Embedding;
            // parity is required only where no resize happens (ARCHITECTURE.md §1 step 6)
            if (golden.GetProperty("images").GetProperty(imageNames[i]).GetProperty("resized").GetBoolean()) continue;
            for (int j = 0; j < zTxt.Length; j++)
            {
                // scores carry the learned logit scale (up to 100), so the tolerance scales with it
                double expected = scores[i][j], actual = model.Similarity(zImg, zTxt[j]);
                Assert.True(Math.Abs(actual - expected) <= 1e-3 * Math.Max(1, Math.Abs(expected)), $"{imageNames[i]} · text {j}: {actual} vs {expected}");
            }
        }
    }
}
