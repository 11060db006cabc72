using System.Diagnostics;
using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Serving;

namespace OpenAutoGlm.Cli;

/// <summary>What <c>autoglm bench --concurrency N</c> measured.</summary>
internal sealed record ServingReport(int Concurrency, int Requests, long PromptTokens, long OutputTokens, double Seconds,
    double TtftP50Ms, double TtftP99Ms, double ItlP50Ms, double ItlP99Ms, long PrefixHitTokens, long Preemptions)
{
    public double TotalTokensPerSecond => (PromptTokens + OutputTokens) / Seconds;
    public double OutputTokensPerSecond => OutputTokens / Seconds;
}

/// <summary>
/// Serving benchmark: N clients each stream one request at a time through one <see cref="BatchEngine"/>; prompt and output
/// lengths are drawn from a seeded generator, so runs compare. Time to first token is from submission; inter-token latency
/// is the gap between consecutive tokens of one request.
/// </summary>
internal static class ServingBench
{
    public static ServingReport Run(string modelDir, int threads, int concurrency, int requestCount, int maxPrompt, int maxOutput, int seed)
    {
        using var model = AutoGlmModel.Load(modelDir, new ModelOptions { Threads = threads, PrefillChunk = Math.Max(256, concurrency) });
        var rng = new Random(seed);
        var work = new (int[] Prompt, int Output)[requestCount];
        for (int i = 0; i < requestCount; i++)
        {
            var prompt = new int[Math.Min(1 + rng.Next(maxPrompt), model.ContextLength - 2)];
            for (int k = 0; k < prompt.Length; k++) prompt[k] = rng.Next(model.VocabSize);
            work[i] = (prompt, Math.Min(1 + rng.Next(maxOutput), model.ContextLength - prompt.Length));
        }
        using var engine = new BatchEngine(model, new BatchEngineOptions { MaxRunning = concurrency });
        // Warm-up: JIT tiers and page-in of the mapped weights, outside the measurement.
        engine.GenerateAsync(work[0].Prompt, new GenerationOptions { MaxNewTokens = 2, StopAtEndOfSequence = false }).GetAwaiter().GetResult();

        var ttft = new List<double>();
        var itl = new List<double>();
        long outputTokens = 0, promptTokens = 0;
        int next = -1;
        var clock = Stopwatch.StartNew();
        async Task Client()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < work.Length)
            {
                var (prompt, output) = work[i];
                var options = new GenerationOptions { MaxNewTokens = output, StopAtEndOfSequence = false };
                double start = clock.Elapsed.TotalMilliseconds, last = -1;
                var gaps = new List<double>();
                int tokens = 0;
                double first = 0;
                await foreach (var token in engine.GenerateStreamingAsync(prompt, options))
                {
                    if (token.Id < 0) continue;
                    double now = clock.Elapsed.TotalMilliseconds;
                    if (last < 0) first = now - start;
                    else gaps.Add(now - last);
                    last = now;
                    tokens++;
                }
                lock (ttft)
                {
                    ttft.Add(first);
                    itl.AddRange(gaps);
                    outputTokens += tokens;
                    promptTokens += prompt.Length;
                }
            }
        }
        Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Client))).GetAwaiter().GetResult();
        double seconds = clock.Elapsed.TotalSeconds;
        var stats = engine.Stats;
        return new ServingReport(concurrency, requestCount, promptTokens, outputTokens, seconds,
            Percentile(ttft, 50), Percentile(ttft, 99), Percentile(itl, 50), Percentile(itl, 99), stats.PrefixHitTokens, stats.Preemptions);
    }

    /// <summary>Nearest-rank percentile; 0 for no samples.</summary>
    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static void Print(ServingReport r, bool json)
    {
        if (json)
        {
            using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
            w.WriteStartObject();
            w.WriteNumber("concurrency", r.Concurrency);
            w.WriteNumber("requests", r.Requests);
            w.WriteNumber("prompt_tokens", r.PromptTokens);
            w.WriteNumber("output_tokens", r.OutputTokens);
            w.WriteNumber("seconds", Math.Round(r.Seconds, 3));
            w.WriteNumber("total_tokens_per_s", Math.Round(r.TotalTokensPerSecond, 3));
            w.WriteNumber("output_tokens_per_s", Math.Round(r.OutputTokensPerSecond, 3));
            w.WriteNumber("ttft_p50_ms", Math.Round(r.TtftP50Ms, 3));
            w.WriteNumber("ttft_p99_ms", Math.Round(r.TtftP99Ms, 3));
            w.WriteNumber("itl_p50_ms", Math.Round(r.ItlP50Ms, 3));
            w.WriteNumber("itl_p99_ms", Math.Round(r.ItlP99Ms, 3));
            w.WriteNumber("prefix_hit_tokens", r.PrefixHitTokens);
            w.WriteNumber("preemptions", r.Preemptions);
            w.WriteEndObject();
            w.Flush();
            Console.Out.WriteLine();
            return;
        }
        Console.WriteLine($"requests    {r.Requests} at concurrency {r.Concurrency}: {r.PromptTokens} prompt + {r.OutputTokens} output tokens in {r.Seconds:F2} s");
        Console.WriteLine($"throughput  {r.TotalTokensPerSecond:F1} tok/s total, {r.OutputTokensPerSecond:F1} tok/s output");
        Console.WriteLine($"ttft        p50 {r.TtftP50Ms:F1} ms, p99 {r.TtftP99Ms:F1} ms");
        Console.WriteLine($"itl         p50 {r.ItlP50Ms:F1} ms, p99 {r.ItlP99Ms:F1} ms");
        Console.WriteLine($"kv cache    {r.PrefixHitTokens} prefix-hit tokens, {r.Preemptions} preemptions");
    }
}
