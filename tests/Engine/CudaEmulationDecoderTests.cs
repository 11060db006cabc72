using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Kernels.Emulation;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Engine;

/// <summary>A fact that is skipped, with the reason, when the CUDA emulation cannot build (no C++ compiler).</summary>
public sealed class RequiresCudaEmulationFactAttribute : FactAttribute
{
    public RequiresCudaEmulationFactAttribute()
    {
        if (!EmuBackend.IsAvailable(out string reason)) Skip = $"CUDA emulation unavailable: {reason}";
    }
}

/// <summary>The whole CUDA decoder, run by the NVRTC kernel sources under CPU emulation, against the CPU backend.</summary>
public class CudaEmulationDecoderTests
{
    private static readonly int[] Prompt = [1, 17, 42, 5, 88, 23, 61];

    private static TinyCheckpointSpec Spec(string architecture) => new()
    {
        Architecture = architecture, HiddenSize = 96, NumHeads = 4, NumKvHeads = 2, HeadDim = 64, IntermediateSize = 112,
        Seed = 13, EosTokenIds = [],
        // Weights at a trained model's scale (|w| ≤ 0.1 ≈ 1/√fan-in) rather than the default ±0.5, whose activations grow
        // several-fold per layer: the prefill kernels round activations to FP16 as GPUs do, and parity is judged at real scales.
        EditTensor = (name, data) =>
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) return;
            for (int i = 0; i < data.Length; i++) data[i] *= 0.2f;
        },
    };

    public static TheoryData<string> Families => ["LlamaForCausalLM", "Qwen2ForCausalLM", "Glm4ForCausalLM"];

    [RequiresCudaEmulationFact]
    public void EveryFamilyMatchesTheCpuBackend()
    {
        foreach (var arch in Families)
        {
            using var cpu = new TinyModel(Spec(arch));
            AssertEmulationMatchesCpu(cpu, arch);
        }
    }

    [RequiresCudaEmulationFact]
    public void Llama3RopeScalingMatchesTheCpuBackend()
    {
        // Wavelengths above 64 positions are stretched 8×, those between 16 and 64 smoothly: most of a 64-dim head's
        // frequencies change, so a backend that ignored the scaling would rotate by other angles from position 1 on.
        var spec = Spec("LlamaForCausalLM") with
        {
            EditConfig = c => c["rope_scaling"] = new System.Text.Json.Nodes.JsonObject
            {
                ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0,
                ["original_max_position_embeddings"] = 64,
            },
        };
        using var cpu = new TinyModel(spec);
        using (var file = OpenAutoGlm.Weights.ModelFile.Open(cpu.ModelDirectory)) Assert.NotNull(file.Manifest.Text.RopeScaling);
        using (var unscaled = new TinyModel(Spec("LlamaForCausalLM")))
        {
            // The same weights without the scaling give other logits, so the comparison below can tell the two apart.
            var plain = unscaled.Model.ComputeLogits(Prompt, allPositions: true);
            var scaled = cpu.Model.ComputeLogits(Prompt, allPositions: true);
            Assert.True(plain.Zip(scaled, (a, b) => Math.Abs(a - b)).Max() > 1e-2);
        }
        AssertEmulationMatchesCpu(cpu, "llama3 rope scaling");
    }

    /// <summary>The checkpoint under cuda-emu against the CPU backend: all-position logits within 2e-3, the same greedy tokens.</summary>
    private static void AssertEmulationMatchesCpu(TinyModel cpu, string what)
    {
        using var emu = AutoGlmModel.Load(cpu.ModelDirectory, new ModelOptions { Device = "cuda-emu" });
        Assert.Equal("cuda-emu", emu.Device);
        double error = RelativeError(emu.ComputeLogits(Prompt, allPositions: true), cpu.Model.ComputeLogits(Prompt, allPositions: true));
        Assert.True(error < 2e-3, $"{what}: relative logit error {error:E2}");
        var options = new GenerationOptions { MaxNewTokens = 10 };
        Assert.Equal(cpu.Model.Generate(Prompt, options).Ids, emu.Generate(Prompt, options).Ids);
    }

    [RequiresCudaEmulationFact]
    public void CapturedDecodeGraphReplaysEveryStep()
    {
        // Decode steps after the first replay one recorded graph whose kernels read the token and its position from device
        // memory; each step's logits must equal those of the same step launched kernel by kernel, and past the cache's
        // first splits the fixed split count of the graph must not matter either.
        using var tiny = new TinyModel(Spec("LlamaForCausalLM"));
        using var file = OpenAutoGlm.Weights.ModelFile.Open(tiny.ModelDirectory);
        using var backend = EmuBackend.Create();
        using var decoder = new OpenAutoGlm.Engine.Backends.CudaTextDecoder(file, backend);
        const int steps = 24, capacity = 160;

        List<float[]> Run(bool graphs, out int replays)
        {
            using var session = decoder.CreateSession(16);
            session.UseGraphs = graphs;
            session.Begin(capacity);
            session.Forward(Prompt, allPositions: false);
            var perStep = new List<float[]>();
            int token = 7;
            for (int i = 0; i < steps; i++)
            {
                session.Forward([token], allPositions: false);
                var logits = session.Logits.AsSpan(0, decoder.Config.VocabSize).ToArray();
                perStep.Add(logits);
                token = 1 + (int)((uint)(i * 2654435761u) % (uint)(decoder.Config.VocabSize - 1));  // varied ids, not the model's argmax
            }
            replays = session.GraphReplays;
            return perStep;
        }

        var plain = Run(graphs: false, out int plainReplays);
        var replayed = Run(graphs: true, out int replays);
        Assert.Equal(0, plainReplays);
        Assert.Equal(steps - 1, replays);   // the first decode step runs plainly and compiles every kernel
        for (int i = 0; i < steps; i++)
        {
            double error = RelativeError(replayed[i], plain[i]);
            Assert.True(error < 1e-5, $"step {i}: relative logit error {error:E2} between the replayed graph and plain launches");
        }
        // The graph really follows the token: different ids at the same steps give different logits.
        Assert.True(RelativeError(replayed[3], replayed[4]) > 1e-3);
    }

    [RequiresCudaEmulationFact]
    public void DemoModelWithImagesMatchesTheCpuBackend()
    {
        // The native Open-AutoGLM demo model: decoder on the CUDA kernels, vision encoder and gated cross-attention fusion on
        // the CPU between them; every golden request (one, two and no images) against the CPU backend.
        string dir = Path.Combine(SharedModels.RepositoryRoot, "models", "demo");
        string examples = Path.Combine(SharedModels.RepositoryRoot, "examples");
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        using var cpu = AutoGlmModel.Load(dir, new ModelOptions { Threads = 2 });
        using var emu = AutoGlmModel.Load(dir, new ModelOptions { Threads = 2, Device = "cuda-emu" });
        Assert.Equal("cuda-emu", emu.Device);
        int requests = 0;
        foreach (var r in doc.RootElement.GetProperty("requests").EnumerateArray())
        {
            var images = r.GetProperty("images").EnumerateArray()
                .Select(x => OpenAutoGlm.Engine.Vision.ImageInput.FromFile(Path.Combine(examples, x.GetString()!))).ToArray();
            var prompt = r.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var noPreset = new ImageRequestOptions { UseDecodingPreset = false };
            var options = new GenerationOptions { MaxNewTokens = 12 };
            var expected = cpu.Generate(prompt, images, options, noPreset).Generation.Ids;
            Assert.Equal(expected, emu.Generate(prompt, images, options, noPreset).Generation.Ids);
            // The same prompt without images must meet the decoder's parity bound; with images the gated fusion layers
            // amplify the FP16 rounding of the tensor-core prefill (GEMM inputs, Q and P), measured up to 9.3e-3 here.
            Assert.True(RelativeError(emu.ComputeLogits(prompt, allPositions: true), cpu.ComputeLogits(prompt, allPositions: true)) is var text && text < 2e-3,
                $"request {requests} without images: relative logit error {text:E2}");
            double fused = RelativeError(emu.ComputeLogits(prompt, images, allPositions: true).Logits, cpu.ComputeLogits(prompt, images, allPositions: true).Logits);
            Assert.True(fused < 1.5e-2, $"request {requests} ({images.Length} images): relative logit error {fused:E2}");
            requests++;
        }
        Assert.True(requests >= 3);
    }

    [RequiresCudaEmulationFact]
    public void LlavaTokenInsertionMatchesTheCpuBackend()
    {
        // The CLIP tower and projector run on the CPU; their rows replace the expanded placeholders in the device's embeddings.
        var spec = Spec(TinyCheckpoint.LlavaArchitecture) with { LlavaNewLayout = true };
        using var cpu = new TinyModel(spec);
        using var emu = AutoGlmModel.Load(cpu.ModelDirectory, new ModelOptions { Device = "cuda-emu" });
        var rgb = new byte[3 * 16 * 16];
        new Random(3).NextBytes(rgb);
        var image = OpenAutoGlm.Engine.Vision.ImageInput.FromRgb(rgb, 16, 16);
        int img = cpu.Model.Manifest.Llava!.ImageTokenId;
        int[] prompt = [1, 17, img, 5, 88, 9];
        double error = RelativeError(emu.ComputeLogits(prompt, [image], allPositions: true).Logits,
            cpu.Model.ComputeLogits(prompt, [image], allPositions: true).Logits);
        Assert.True(error < 2e-3, $"relative logit error {error:E2}");
        var options = new GenerationOptions { MaxNewTokens = 6 };
        Assert.Equal(cpu.Model.Generate(prompt, [image], options).Generation.Ids, emu.Generate(prompt, [image], options).Generation.Ids);
    }

    private static double RelativeError(float[] actual, float[] expected)
    {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / maxRef;
    }

    [Fact]
    public void CudaWithoutADriverIsAClearErrorAndAutoFallsBack()
    {
        using var cpu = new TinyModel(Spec("LlamaForCausalLM"));
        if (OpenAutoGlm.Kernels.Cuda.CudaAvailability.Probe().Available) return; // a GPU host: nothing to fall back from
        var e = Assert.Throws<InvalidOperationException>(() => AutoGlmModel.Load(cpu.ModelDirectory, new ModelOptions { Device = "cuda" }));
        Assert.Contains("CUDA is not available", e.Message);
        var log = new List<string>();
        using var auto = AutoGlmModel.Load(cpu.ModelDirectory, new ModelOptions { Device = "auto", Log = log.Add });
        Assert.Equal("cpu", auto.Device);
        Assert.Single(log);
        Assert.Contains("running on the CPU", log[0]);
    }
}
