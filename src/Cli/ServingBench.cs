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

/// <summary>What <c>autoglm bench --prefix-tokens N</c> measured: median time to first token without and with the prefix cached.</summary>
internal sealed record PrefixReport(int PrefixTokens, int SuffixTokens, int Runs, double ColdTtftMs, double WarmTtftMs, long PrefixHitTokens)
{
    public double Speedup => ColdTtftMs / WarmTtftMs;
}

/// <summary>
/// Serving benchmark: N clients each stream one request at a time through one <see cref="BatchEngine"/>; prompt and output
/// lengths are drawn from a seeded generator, so runs compare. Time to first token is from submission; inter-token latency
/// is the gap between consecutive tokens of one request.
/// </summary>
internal static class ServingBench
{
    /// <summary>Parses a comma list of concurrency levels such as <c>1,4,16,64</c>.</summary>
    public static int[] ParseLevels(string text)
    {
        var levels = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(part => int.TryParse(part, out int level) && level >= 1
                ? level
                : throw new ArgumentException($"--concurrency takes positive integers separated by commas, got '{part}'."))
            .ToArray();
        return levels.Length > 0 ? levels : throw new ArgumentException("--concurrency needs at least one level.");
    }

    /// <summary>Requests when not given: four per client of the highest level, at most 128 so that a sweep finishes in minutes.</summary>
    public static int DefaultRequests(int concurrency) => Math.Min(4 * concurrency, 128);

    /// <summary>
    /// Runs every level in turn on one loaded model, each with a fresh engine and the same seeded requests (as many as the
    /// highest level's default unless given), so every level serves the same work and the throughputs compare: a smaller
    /// sample at the low levels would draw a different mix of prompt and output lengths.
    /// </summary>
    public static List<ServingReport> Sweep(string modelDir, int threads, IReadOnlyList<int> levels, int? requestCount, int maxPrompt, int maxOutput, int seed)
    {
        using var model = Load(modelDir, threads, levels.Max());
        int requests = requestCount ?? DefaultRequests(levels.Max());
        return [.. levels.Select(c => Run(model, c, requests, maxPrompt, maxOutput, seed))];
    }

    public static ServingReport Run(string modelDir, int threads, int concurrency, int requestCount, int maxPrompt, int maxOutput, int seed)
    {
        using var model = Load(modelDir, threads, concurrency);
        return Run(model, concurrency, requestCount, maxPrompt, maxOutput, seed);
    }

    // A step holds at least one row per running sequence, and 256 rows keep prefill chunks in the GEMM's efficient range.
    private static AutoGlmModel Load(string modelDir, int threads, int maxConcurrency)
        => AutoGlmModel.Load(modelDir, new ModelOptions { Threads = threads, PrefillChunk = Math.Max(256, maxConcurrency) });

    private static ServingReport Run(AutoGlmModel model, int concurrency, int requestCount, int maxPrompt, int maxOutput, int seed)
    {
        var rng = new Random(seed);
        int[] RandomPrompt(int length)
        {
            var prompt = new int[length];
            for (int k = 0; k < prompt.Length; k++) prompt[k] = rng.Next(model.VocabSize);
            return prompt;
        }
        var work = new (int[] Prompt, int Output)[requestCount];
        for (int i = 0; i < requestCount; i++)
        {
            var prompt = RandomPrompt(Math.Min(1 + rng.Next(maxPrompt), model.ContextLength - 2));
            work[i] = (prompt, Math.Min(1 + rng.Next(maxOutput), model.ContextLength - prompt.Length));
        }
        using var engine = new BatchEngine(model, new BatchEngineOptions { MaxRunning = concurrency });
        // Warm-up outside the measurement: page-in of the mapped weights and enough steps (prefill and decode) for the
        // JIT's optimized tiers to be in place before the first timed level, on a prompt of its own so that no request of
        // the measured mix finds its prefix cached. With a 2-token warm-up the first level ran partly on unoptimized code.
        var warmUp = RandomPrompt(Math.Min(maxPrompt, model.ContextLength - 2));
        engine.GenerateAsync(warmUp, new GenerationOptions { MaxNewTokens = Math.Min(16, model.ContextLength - warmUp.Length), StopAtEndOfSequence = false })
            .GetAwaiter().GetResult();

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

    /// <summary>
    /// Prefix reuse: per run, a request with a fresh random prefix and suffix (cold: nothing cached), then one with the same
    /// prefix and another suffix (warm: the prefix's full blocks come from the cache); both generate one token, so the
    /// time to first token is the time to compute the prompt. Medians over the runs.
    /// </summary>
    public static PrefixReport Prefix(string modelDir, int threads, int prefixTokens, int suffixTokens, int runs, int seed)
    {
        using var model = Load(modelDir, threads, 1);
        if (prefixTokens < 1 || suffixTokens < 1 || runs < 1) throw new ArgumentException("--prefix-tokens, --suffix-tokens and --runs must be ≥ 1.");
        if (prefixTokens + suffixTokens >= model.ContextLength)
            throw new ArgumentException($"Prefix plus suffix ({prefixTokens + suffixTokens} tokens) must be shorter than the context ({model.ContextLength}).");
        var rng = new Random(seed);
        int[] RandomIds(int count)
        {
            var ids = new int[count];
            for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(model.VocabSize);
            return ids;
        }
        using var engine = new BatchEngine(model, new BatchEngineOptions { MaxRunning = 1 });
        var options = new GenerationOptions { MaxNewTokens = 1, StopAtEndOfSequence = false };
        double Ttft(int[] prompt) => engine.GenerateAsync(prompt, options).GetAwaiter().GetResult().TimeToFirstTokenMs;
        Ttft(RandomIds(prefixTokens + suffixTokens)); // warm-up: JIT tiers, page-in of the mapped weights

        long hitsBefore = engine.Stats.PrefixHitTokens;
        var cold = new List<double>();
        var warm = new List<double>();
        for (int r = 0; r < runs; r++)
        {
            var prefix = RandomIds(prefixTokens);
            cold.Add(Ttft([.. prefix, .. RandomIds(suffixTokens)]));
            warm.Add(Ttft([.. prefix, .. RandomIds(suffixTokens)]));
        }
        return new PrefixReport(prefixTokens, suffixTokens, runs, Percentile(cold, 50), Percentile(warm, 50),
            (engine.Stats.PrefixHitTokens - hitsBefore) / runs);
    }

    public static void Print(PrefixReport r, bool json)
    {
        if (json)
        {
            using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
            w.WriteStartObject();
            w.WriteNumber("prefix_tokens", r.PrefixTokens);
            w.WriteNumber("suffix_tokens", r.SuffixTokens);
            w.WriteNumber("runs", r.Runs);
            w.WriteNumber("cold_ttft_ms", Math.Round(r.ColdTtftMs, 3));
            w.WriteNumber("warm_ttft_ms", Math.Round(r.WarmTtftMs, 3));
            w.WriteNumber("speedup", Math.Round(r.Speedup, 3));
            w.WriteNumber("prefix_hit_tokens", r.PrefixHitTokens);
            w.WriteEndObject();
            w.Flush();
            Console.Out.WriteLine();
            return;
        }
        Console.WriteLine($"prompt      {r.PrefixTokens}-token prefix + {r.SuffixTokens}-token suffix, median of {r.Runs} runs");
        Console.WriteLine($"cold ttft   {r.ColdTtftMs,10:F1} ms  (nothing cached)");
        Console.WriteLine($"warm ttft   {r.WarmTtftMs,10:F1} ms  ({r.PrefixHitTokens} prefix tokens from the cache)");
        Console.WriteLine($"speed-up    {r.Speedup,10:F1}×");
    }

    /// <summary>Nearest-rank percentile; 0 for no samples.</summary>
    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>One level prints as before (one JSON object); a sweep prints a JSON array of those objects, or a table.</summary>
    public static void Print(IReadOnlyList<ServingReport> reports, bool json)
    {
        if (json)
        {
            using (var stdout = Console.OpenStandardOutput()) WriteJson(stdout, reports);
            Console.Out.WriteLine();
            return;
        }
        if (reports.Count == 1)
        {
            var r = reports[0];
            Console.WriteLine($"requests    {r.Requests} at concurrency {r.Concurrency}: {r.PromptTokens} prompt + {r.OutputTokens} output tokens in {r.Seconds:F2} s");
            Console.WriteLine($"throughput  {r.TotalTokensPerSecond:F1} tok/s total, {r.OutputTokensPerSecond:F1} tok/s output");
            Console.WriteLine($"ttft        p50 {r.TtftP50Ms:F1} ms, p99 {r.TtftP99Ms:F1} ms");
            Console.WriteLine($"itl         p50 {r.ItlP50Ms:F1} ms, p99 {r.ItlP99Ms:F1} ms");
            Console.WriteLine($"kv cache    {r.PrefixHitTokens} prefix-hit tokens, {r.Preemptions} preemptions");
            return;
        }
        Console.WriteLine("concurrency  requests  total tok/s  output tok/s  ttft p50 ms  ttft p99 ms  itl p50 ms  itl p99 ms");
        foreach (var r in reports)
            Console.WriteLine($"{r.Concurrency,11}  {r.Requests,8}  {r.TotalTokensPerSecond,11:F1}  {r.OutputTokensPerSecond,12:F1}  {r.TtftP50Ms,11:F1}  {r.TtftP99Ms,11:F1}  {r.ItlP50Ms,10:F1}  {r.ItlP99Ms,10:F1}");
    }

    /// <summary>One level as one object (the single-level format), several as an array of them.</summary>
    public static void WriteJson(Stream stream, IReadOnlyList<ServingReport> reports)
    {
        using var w = new Utf8JsonWriter(stream);
        if (reports.Count == 1) Write(w, reports[0]);
        else
        {
            w.WriteStartArray();
            foreach (var r in reports) Write(w, r);
            w.WriteEndArray();
        }
        w.Flush();
    }

    private static void Write(Utf8JsonWriter w, ServingReport r)
    {
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
    }
}
