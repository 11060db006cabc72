using System.CommandLine;
using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Cli;

/// <summary>
/// <c>autoglm bench</c>: prefill and decode speed on random ids, set against this machine's measured limits
/// (read bandwidth for decode, FP32 FMA peak for prefill), measured in the same run so that ratios compare; with <c>--image</c>,
/// the vision path of a multimodal model (<see cref="ImageBench"/>).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length.", DefaultValueFactory = _ => 128 };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens decoded.", DefaultValueFactory = _ => 64 };
        var runs = new Option<int>("--runs") { Description = "Timed runs after one warm-up; the median is reported.", DefaultValueFactory = _ => 3 };
        var concurrency = new Option<string?>("--concurrency", "-c")
        {
            Description = "Serving benchmark instead: N concurrent clients on the batch engine, random prompt/output lengths up to --prompt-tokens/--gen-tokens; a comma list (1,4,16,64) sweeps the levels in one process.",
        };
        var requests = new Option<int?>("--requests") { Description = "Serving benchmark: requests, the same ones at every level (default 4 × the highest concurrency, at most 128)." };
        var plot = new Option<string?>("--plot") { Description = "Serving benchmark: draw tokens/s and p99 latencies against concurrency to this PNG file." };
        var prefixTokens = new Option<int?>("--prefix-tokens")
        {
            Description = "Prefix reuse benchmark instead: time to first token with an N-token prefix already cached against cold, on the batch engine.",
        };
        var suffixTokens = new Option<int>("--suffix-tokens") { Description = "Prefix reuse benchmark: new tokens after the prefix.", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Serving benchmark: seed of the synthetic requests.", DefaultValueFactory = _ => 1234 };
        var image = new Option<string?>("--image") { Description = "Image benchmark instead: preprocessing, vision encoder and time to first token for this image (multimodal models)." };
        var resolution = CommonOptions.Resolution();
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var hugePages = CommonOptions.HugePages();
        var cmd = new Command("bench", "Measure prefill and decode speed against the machine's bandwidth and FMA limits, or serving throughput and latency.")
        {
            model, promptTokens, genTokens, runs, concurrency, requests, plot, prefixTokens, suffixTokens, seed, image, resolution, threads, device, json, hugePages,
        };
        cmd.SetAction(parse =>
        {
            int p = parse.GetValue(promptTokens), g = parse.GetValue(genTokens), n = Math.Max(1, parse.GetValue(runs));
            int t = parse.GetValue(threads);
            if (parse.GetValue(prefixTokens) is int prefix)
            {
                var report = ServingBench.Prefix(parse.GetValue(model)!, t, prefix, parse.GetValue(suffixTokens), n, parse.GetValue(seed));
                ServingBench.Print(report, parse.GetValue(json));
                return 0;
            }
            if (parse.GetValue(image) is string imagePath)
            {
                if (p < 1) throw new ArgumentException("--prompt-tokens must be ≥ 1.");
                using var vm = CommonOptions.Load(parse.GetValue(model)!, t, parse.GetValue(device)!, prefillChunk: p);
                ImageBench.Print(ImageBench.Run(vm, imagePath, parse.GetValue(resolution), p, n, t), parse.GetValue(json));
                return 0;
            }
            if (parse.GetValue(concurrency) is string levelList)
            {
                var levels = ServingBench.ParseLevels(levelList);
                if (p < 1 || g < 1) throw new ArgumentException("--prompt-tokens and --gen-tokens must be ≥ 1.");
                var reports = ServingBench.Sweep(parse.GetValue(model)!, t, levels, parse.GetValue(requests), p, g, parse.GetValue(seed));
                ServingBench.Print(reports, parse.GetValue(json));
                if (parse.GetValue(plot) is string png) ServingPlot.Save(reports, png);
                return 0;
            }
            if (p < 1 || g < 2) throw new ArgumentException("--prompt-tokens must be ≥ 1 and --gen-tokens ≥ 2.");
            using var m = CommonOptions.Load(parse.GetValue(model)!, t, parse.GetValue(device)!, prefillChunk: p, hugePages: parse.GetValue(hugePages));
            var rng = new Random(1234);
            var ids = new int[p];
            for (int i = 0; i < p; i++) ids[i] = rng.Next(m.VocabSize);
            var options = new GenerationOptions { MaxNewTokens = g, StopAtEndOfSequence = false };

            m.Generate(ids, options); // warm-up: JIT tiers, page-in of the mapped weights
            // The CPU's limits only bound the CPU backend; on a GPU the fractions are left at zero (see scripts/gpu-check.sh).
            // Each run is paired with its own measurement of them, taken just before it: the machine's bandwidth swings
            // with its neighbours' load, so a run is set against what the machine delivered at that moment.
            using var limitsPool = m.Device == "cpu" ? new WorkerPool(t) : null;
            var runsDone = new List<(GenerationResult Result, double Bandwidth, double Peak)>();
            for (int i = 0; i < n; i++)
            {
                double bw = limitsPool is null ? double.PositiveInfinity : MemoryBandwidth.MeasureReadBytesPerSecond(limitsPool);
                double fma = limitsPool is null ? double.PositiveInfinity : FmaPeak.MeasureFlopsPerSecond(limitsPool);
                runsDone.Add((m.Generate(ids, options), bw, fma));
            }
            double Median(Func<(GenerationResult Result, double Bandwidth, double Peak), double> f)
            {
                var v = runsDone.Select(f).Order().ToArray();
                return v[v.Length / 2];
            }
            double prefill = Median(r => r.Result.PrefillTokensPerSecond), decode = Median(r => r.Result.DecodeTokensPerSecond);
            double ttft = Median(r => r.Result.TimeToFirstTokenMs);
            double bandwidth = Median(r => r.Bandwidth), peak = Median(r => r.Peak);
            double flopsPerToken = m.MatmulFlops(p) / p;
            double bwFraction = Median(r => r.Result.DecodeTokensPerSecond * m.WeightBytesPerToken / r.Bandwidth);
            double fmaFraction = Median(r => r.Result.PrefillTokensPerSecond * flopsPerToken / r.Peak);

            if (parse.GetValue(json))
            {
                using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
                w.WriteStartObject();
                w.WriteNumber("prompt_tokens", p);
                w.WriteNumber("gen_tokens", g);
                w.WriteNumber("threads", t);
                w.WriteString("device", m.Device);
                w.WriteBoolean("packed_weights", m.Device == "cpu" && m.PacksWeights);
                w.WriteNumber("prefill_tokens_per_s", Math.Round(prefill, 3));
                w.WriteNumber("decode_tokens_per_s", Math.Round(decode, 3));
                w.WriteNumber("ttft_ms", Math.Round(ttft, 3));
                w.WriteNumber("weight_bytes_per_token", m.WeightBytesPerToken);
                if (double.IsFinite(bandwidth)) w.WriteNumber("measured_bandwidth_gb_per_s", Math.Round(bandwidth / 1e9, 3));
                w.WriteNumber("bandwidth_fraction", Math.Round(bwFraction, 4));
                if (double.IsFinite(peak)) w.WriteNumber("measured_fma_peak_gflops", Math.Round(peak / 1e9, 3));
                w.WriteNumber("prefill_fma_fraction", Math.Round(fmaFraction, 4));
                w.WriteEndObject();
                w.Flush();
                Console.Out.WriteLine();
            }
            else
            {
                Console.WriteLine($"model       {m.Manifest.Architecture} on {m.Device}{(m.Device == "cpu" && m.PacksWeights ? " (packed weights)" : "")}, {m.WeightBytesPerToken / 1e6:F1} MB of weights read per decoded token, {t} threads");
                Console.WriteLine($"prefill     {p} tokens: {prefill,10:F1} tok/s  ({prefill * flopsPerToken / 1e9:F1} GFLOP/s; {fmaFraction:P1} of the FMA peak measured with each run, median {peak / 1e9:F1} GFLOP/s)");
                Console.WriteLine($"ttft        {ttft,10:F1} ms");
                Console.WriteLine($"decode      {g} tokens: {decode,10:F1} tok/s  ({decode * m.WeightBytesPerToken / 1e9:F1} GB/s; {bwFraction:P1} of the read bandwidth measured with each run, median {bandwidth / 1e9:F1} GB/s)");
            }
            return 0;
        });
        return cmd;
    }
}
