using System.CommandLine;
using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Constraints;
using OpenAutoGlm.Engine.Generation;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm generate</c>: prompt or ids in, streamed text (or one JSON object) out.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text (tokenized with the model's tokenizer)." };
        var ids = CommonOptions.Ids();
        var maxNew = new Option<int>("--max-new-tokens", "-n") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Keep the K most likely tokens (0: off)." };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1: off).", DefaultValueFactory = _ => 1f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below min-p × the top probability (0: off)." };
        var repetition = new Option<float>("--repetition-penalty") { Description = "HF repetition penalty (1: off).", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong?>("--seed") { Description = "Random seed: same seed, same output." };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable).", AllowMultipleArgumentsPerToken = false };
        var frequency = new Option<float>("--frequency-penalty") { Description = "OpenAI frequency penalty in [-2, 2] (0: off)." };
        var presence = new Option<float>("--presence-penalty") { Description = "OpenAI presence penalty in [-2, 2] (0: off)." };
        var logprobs = new Option<int?>("--logprobs") { Description = "Report each token's log-probability and the K most likely alternatives (0–20)." };
        var schema = new Option<FileInfo?>("--json-schema") { Description = "Constrain the output to JSON matching the schema in this file." };
        var beams = new Option<int>("--num-beams") { Description = "Beam search with N beams (1: off).", DefaultValueFactory = _ => 1 };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var images = CommonOptions.Images();
        var resolution = CommonOptions.Resolution();
        var hugePages = CommonOptions.HugePages();
        var chat = new Option<bool>("--chat")
        {
            Description = "Render --prompt as one user turn with the model's chat template (and the images as its image parts), as the model was trained to be asked.",
        };

        var cmd = new Command("generate", "Generate text from a prompt or from token ids.")
        {
            model, prompt, ids, maxNew, temperature, topK, topP, minP, repetition, seed, stop, frequency, presence, logprobs, schema, beams, threads, device, json, images, resolution, hugePages, chat,
        };
        cmd.SetAction((parse, ct) =>
        {
            string? promptText = parse.GetValue(prompt);
            string? idText = parse.GetValue(ids);
            if ((promptText is null) == (idText is null))
                throw new ArgumentException("Give exactly one of --prompt or --ids.");
            using var m = CommonOptions.Load(parse.GetValue(model)!, parse.GetValue(threads), parse.GetValue(device)!, hugePages: parse.GetValue(hugePages));
            int[] promptIds = idText is not null ? CommonOptions.ParseIds(idText)
                : parse.GetValue(chat) ? ChatPrompt(m, promptText!, parse.GetValue(images)?.Length ?? 0) : m.Encode(promptText!);
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repetition),
                Seed = parse.GetValue(seed),
                StopStrings = parse.GetValue(stop) ?? [],
                FrequencyPenalty = parse.GetValue(frequency),
                PresencePenalty = parse.GetValue(presence),
                LogProbs = parse.GetValue(logprobs) is not null,
                TopLogProbs = parse.GetValue(logprobs) ?? 0,
                JsonSchema = parse.GetValue(schema) is { } file ? JsonSchema.Parse(File.ReadAllText(file.FullName)) : null,
                NumBeams = parse.GetValue(beams),
            };
            bool asJson = parse.GetValue(json);
            Action<GeneratedToken>? print = asJson || options.NumBeams > 1 ? null : t =>
            {
                Console.Out.Write(m.Tokenizer is null ? (t.Id >= 0 ? $"{t.Id} " : "") : t.Text);
                Console.Out.Flush();
            };
            var imagePaths = parse.GetValue(images) ?? [];
            MultimodalGenerationResult? multimodal = null;
            GenerationResult result;
            if (m.SupportsImages)
            {
                // the instruction preset fills what the user did not type; typed options and then the CLI defaults follow
                var preset = m.ClassifyInstruction(promptIds)?.Preset;
                var typed = new Dictionary<string, Option>
                {
                    [InstructionPresets.Temperature] = temperature, [InstructionPresets.TopK] = topK, [InstructionPresets.TopP] = topP,
                    [InstructionPresets.RepetitionPenalty] = repetition, [InstructionPresets.MaxNewTokens] = maxNew,
                };
                options = InstructionPresets.Apply(options, preset, field => CommonOptions.IsExplicit(parse, typed[field]));
                multimodal = m.Generate(promptIds, CommonOptions.ImageInputs(imagePaths), options,
                    new ImageRequestOptions { Resolution = parse.GetValue(resolution), UseDecodingPreset = false }, print, ct);
                result = multimodal.Generation;
            }
            else
            {
                if (imagePaths.Length > 0) throw new InvalidOperationException($"--image needs an open_autoglm model; this one is {m.Manifest.Architecture}.");
                result = m.Generate(promptIds, options, print, ct);
            }
            if (asJson) WriteJson(result, multimodal);
            else
            {
                if (result.Beams is { } beamResults)
                    foreach (var b in beamResults) Console.Out.WriteLine($"[{b.Score:F4}] {(m.Tokenizer is null ? string.Join(' ', b.Ids) : b.Text)}");
                Console.Out.WriteLine();
                Console.Error.WriteLine($"[{result.PromptTokens} prompt tokens, {result.Ids.Length} generated ({result.FinishReason}); " +
                    $"ttft {result.TimeToFirstTokenMs:F1} ms, prefill {result.PrefillTokensPerSecond:F1} tok/s, decode {result.DecodeTokensPerSecond:F1} tok/s]");
            }
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static void WriteJson(GenerationResult r, MultimodalGenerationResult? multimodal)
    {
        using var w = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteStartArray("ids");
        foreach (int id in r.Ids) w.WriteNumberValue(id);
        w.WriteEndArray();
        w.WriteString("text", r.Text);
        w.WriteNumber("prompt_tokens", r.PromptTokens);
        w.WriteString("finish_reason", r.FinishReason switch
        {
            FinishReason.StopToken => "stop_token",
            FinishReason.StopString => "stop_string",
            _ => "length",
        });
        w.WriteNumber("ttft_ms", Math.Round(r.TimeToFirstTokenMs, 3));
        w.WriteNumber("prefill_tokens_per_s", Math.Round(r.PrefillTokensPerSecond, 3));
        w.WriteNumber("decode_tokens_per_s", Math.Round(r.DecodeTokensPerSecond, 3));
        w.WriteNumber("confidence", Math.Round(r.Confidence, 6));
        if (r.LogProbs is { } logProbs)
        {
            w.WriteStartArray("logprobs");
            foreach (var lp in logProbs)
            {
                w.WriteStartObject();
                w.WriteNumber("id", lp.Id);
                w.WriteString("token", lp.Text);
                w.WriteNumber("logprob", lp.LogProb);
                w.WriteStartArray("top_logprobs");
                foreach (var (id, text, logProb) in lp.Top)
                {
                    w.WriteStartObject();
                    w.WriteNumber("id", id);
                    w.WriteString("token", text);
                    w.WriteNumber("logprob", logProb);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.Beams is { } beams)
        {
            w.WriteStartArray("beams");
            foreach (var b in beams)
            {
                w.WriteStartObject();
                w.WriteStartArray("ids");
                foreach (int id in b.Ids) w.WriteNumberValue(id);
                w.WriteEndArray();
                w.WriteString("text", b.Text);
                w.WriteNumber("score", b.Score);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (multimodal is not null)
        {
            MultimodalJson.WriteImages(w, multimodal.Images, multimodal.VisionMs);
            w.WriteBoolean("imputed", multimodal.Imputed);
            if (multimodal.Instruction is { } choice)
            {
                w.WriteString("task_class", choice.TaskClass);
                MultimodalJson.WritePreset(w, choice.Preset);
            }
            else
            {
                w.WriteNull("task_class");
                w.WriteNull("preset");
            }
        }
        w.WriteEndObject();
        w.Flush();
        Console.Out.WriteLine();
    }

    /// <summary>The prompt as one user message of the checkpoint's chat template, images first.</summary>
    private static int[] ChatPrompt(AutoGlmModel m, string prompt, int images)
    {
        if (m.ChatConfig is null)
            throw new ArgumentException("--chat: this model has no chat template (tokenizer_config.json or chat_template.jinja).");
        var parts = new List<Engine.Chat.ChatContentPart>();
        for (int i = 0; i < images; i++) parts.Add(Engine.Chat.ChatContentPart.Image());
        parts.Add(Engine.Chat.ChatContentPart.FromText(prompt));
        return m.EncodeChat([new Engine.Chat.ChatMessage("user", parts)]);
    }
}
