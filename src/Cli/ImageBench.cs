using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Cli;

/// <summary>What <c>autoglm bench --image</c> measured: medians over the timed runs.</summary>
/// <param name="TtftMs">Request to first token with the image (preprocessing, encoder, fusion cache, prefill); null for CLIP, which has no decoder.</param>
internal sealed record ImageBenchReport(int Resolution, int Tokens, double PreprocessMs, double EncoderMs, double EncoderFlops, double? TtftMs, int PromptTokens, double FmaPeak)
{
    public double EncoderFlopsPerSecond => EncoderFlops / (EncoderMs / 1e3);
    public double FmaFraction => EncoderFlopsPerSecond / FmaPeak;
}

/// <summary>
/// Image benchmark: preprocessing and vision-encoder time of one image, time to first token of a request carrying it, and the
/// encoder's GFLOP/s against the FMA peak measured in the same run (ratios within one run compare on a noisy machine).
/// </summary>
internal static class ImageBench
{
    public static ImageBenchReport Run(AutoGlmModel model, string imagePath, int? resolution, int promptTokens, int runs, int threads)
    {
        if (!model.SupportsImages) throw new ArgumentException($"--image needs a model with a vision encoder; this one is {model.Manifest.Architecture}.");
        var image = ImageInput.FromFile(imagePath);
        var options = new ImageRequestOptions { Resolution = resolution, UseDecodingPreset = false };
        bool hasDecoder = model.Manifest.Clip is null;
        int[] prompt = hasDecoder ? Prompt(model, promptTokens) : [];
        var generation = new GenerationOptions { MaxNewTokens = 1, StopAtEndOfSequence = false };

        // warm-up: JIT tiers, page-in of the mapped weights
        model.ProfileImage(image, options);
        if (hasDecoder) model.Generate(prompt, [image], generation, options);
        var profiles = new List<VisionProfile>();
        var ttft = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            profiles.Add(model.ProfileImage(image, options));
            if (!hasDecoder) continue;
            var result = model.Generate(prompt, [image], generation, options);
            ttft.Add(result.VisionMs + result.Generation.TimeToFirstTokenMs);
        }
        using var pool = new WorkerPool(threads);
        double peak = FmaPeak.MeasureFlopsPerSecond(pool);
        var first = profiles[0];
        return new ImageBenchReport(first.Resolution, first.Tokens, Median(profiles.Select(p => p.PreprocessMs)), Median(profiles.Select(p => p.EncoderMs)),
            first.EncoderFlops, hasDecoder ? Median(ttft) : null, prompt.Length, peak);
    }

    /// <summary>Random ids; a LLaVA prompt starts with the one image placeholder its image needs.</summary>
    private static int[] Prompt(AutoGlmModel model, int length)
    {
        int? placeholder = model.Manifest.Llava?.ImageTokenId;
        var rng = new Random(1234);
        var ids = new int[Math.Min(length, model.ContextLength / 2)];
        for (int i = 0; i < ids.Length; i++)
            do ids[i] = rng.Next(model.VocabSize); while (ids[i] == placeholder);
        if (placeholder is int p) ids[0] = p;
        return ids;
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v[v.Length / 2];
    }

    public static void Print(ImageBenchReport r, bool json)
    {
        if (json)
        {
            using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
            w.WriteStartObject();
            w.WriteNumber("resolution", r.Resolution);
            w.WriteNumber("image_tokens", r.Tokens);
            w.WriteNumber("preprocess_ms", Math.Round(r.PreprocessMs, 3));
            w.WriteNumber("vision_encoder_ms", Math.Round(r.EncoderMs, 3));
            w.WriteNumber("vision_encoder_gflop", Math.Round(r.EncoderFlops / 1e9, 4));
            w.WriteNumber("vision_encoder_gflops_per_s", Math.Round(r.EncoderFlopsPerSecond / 1e9, 3));
            w.WriteNumber("measured_fma_peak_gflops", Math.Round(r.FmaPeak / 1e9, 3));
            w.WriteNumber("vision_encoder_fma_fraction", Math.Round(r.FmaFraction, 4));
            if (r.TtftMs is double t)
            {
                w.WriteNumber("prompt_tokens", r.PromptTokens);
                w.WriteNumber("ttft_ms", Math.Round(t, 3));
            }
            w.WriteEndObject();
            w.Flush();
            Console.Out.WriteLine();
            return;
        }
        Console.WriteLine($"image       {r.Resolution}×{r.Resolution}, {r.Tokens} patches");
        Console.WriteLine($"preprocess  {r.PreprocessMs,10:F1} ms");
        Console.WriteLine($"encoder     {r.EncoderMs,10:F1} ms  ({r.EncoderFlops / 1e9:F2} GFLOP, {r.EncoderFlopsPerSecond / 1e9:F1} GFLOP/s = {r.FmaFraction:P1} of {r.FmaPeak / 1e9:F1} GFLOP/s FMA peak)");
        if (r.TtftMs is double ttft) Console.WriteLine($"ttft        {ttft,10:F1} ms  (image + {r.PromptTokens} prompt tokens, request to first token)");
    }
}
