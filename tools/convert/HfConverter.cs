using System.Text.Json;
using OpenAutoGlm.Convert.Families;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert;

public sealed record ConvertOptions
{
    /// <summary>Clamp values beyond ±65504 to the FP16 range instead of failing.</summary>
    public bool ClampToHalfRange { get; init; }

    /// <summary>Re-open the written model and verify every tensor checksum.</summary>
    public bool VerifyChecksums { get; init; }
}

/// <summary>Progress after a tensor is written: <paramref name="Completed"/> of <paramref name="Total"/>.</summary>
public readonly record struct ConvertProgress(string Tensor, int Completed, int Total);

public sealed record ConvertResult(ModelManifest Manifest, int TensorCount, long ClampedValues, IReadOnlyList<string> Warnings);

/// <summary>Converts a Hugging Face checkpoint directory into a converted model directory (docs/weights-format.md).</summary>
public static class HfConverter
{
    public const string ConfigFile = "config.json";
    public const string TokenizerFile = "tokenizer.json";

    /// <summary>Elements converted per step, bounding memory however large a tensor is.</summary>
    private const int ChunkElements = 1 << 20;

    public static ConvertResult Convert(string inputDir, string outputDir, ConvertOptions options, IProgress<ConvertProgress>? progress = null)
    {
        if (Path.GetFullPath(inputDir).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(outputDir).TrimEnd(Path.DirectorySeparatorChar))
            throw new ArgumentException("the output directory must differ from the input directory.", nameof(outputDir));

        string configPath = Path.Combine(inputDir, ConfigFile);
        var config = HfConfig.Load(configPath);
        // open_autoglm checkpoints may name no architecture; their model_type identifies them
        string hfArchitecture = config.Architectures.FirstOrDefault(a => FamilyRegistry.Find(a) is not null)
            ?? (config.ModelType == Architectures.OpenAutoGlm ? FamilyRegistry.OpenAutoGlmArchitecture : null)
            ?? config.Architectures.FirstOrDefault()
            ?? throw new InvalidModelException($"{configPath}: no 'architectures' entry; supported: {string.Join(", ", FamilyRegistry.Supported)}.");
        var family = FamilyRegistry.Find(hfArchitecture)
            ?? throw new InvalidModelException($"{configPath}: architecture '{hfArchitecture}' is not supported; supported: {string.Join(", ", FamilyRegistry.Supported)}.");

        var warnings = new List<string>();
        using var checkpoint = SafetensorsCheckpoint.Open(inputDir);
        var (decoderPrefix, head) = family.TensorPrefixes(checkpoint.Tensors);
        bool tied = config.GetBool("tie_word_embeddings", false) || !checkpoint.Tensors.ContainsKey(head);
        var text = family.ResolveText(config, tied, warnings);

        string tokenizerPath = Path.Combine(inputDir, TokenizerFile);
        bool hasTokenizer = File.Exists(tokenizerPath);
        if (!hasTokenizer) warnings.Add($"no {TokenizerFile} in {inputDir}: the model runs from token ids only.");

        var bos = config.GetInt("bos_token_id") ?? family.DefaultField("bos_token_id");
        var manifest = new ModelManifest
        {
            Architecture = family.Architecture,
            SourceArchitecture = hfArchitecture,
            Text = text,
            Tokens = new SpecialTokens
            {
                Bos = bos,
                Eos = config.GetIntList("eos_token_id") ?? (family.DefaultField("eos_token_id") is int eos ? [eos] : []),
                Pad = config.GetInt("pad_token_id"),
                AddBos = hasTokenizer && bos is int id && TokenizerPrependsToken(tokenizerPath, id),
            },
            Metadata = { ["converter"] = "autoglm-convert" },
        };
        family.CompleteManifest(manifest, config, checkpoint.Tensors);
        manifest.Validate(configPath);

        IReadOnlyList<TensorRecipe> recipes = [.. family.Recipes(text, decoderPrefix, head), .. family.ExtraRecipes(manifest, checkpoint.Tensors)];
        CheckSources(inputDir, checkpoint, recipes);
        var used = recipes.SelectMany(r => r.Sources).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var ignored = checkpoint.Tensors.Keys.Where(k => !used.Contains(k) && !k.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        if (ignored.Count > 0) warnings.Add($"{ignored.Count} checkpoint tensor(s) not used: {string.Join(", ", ignored)}.");

        long clamped = 0;
        var clampedTensors = new List<string>();
        using (var writer = new ModelWriter(outputDir))
        {
            var floats = new float[ChunkElements];
            var halves = new Half[ChunkElements];
            for (int r = 0; r < recipes.Count; r++)
            {
                var recipe = recipes[r];
                writer.BeginTensor(recipe.Output.Name, recipe.Output.DType, recipe.Output.Shape);
                foreach (var source in recipe.Sources)
                {
                    long inSource = WriteSource(checkpoint, source.Name, recipe.Output.DType, writer, floats, halves, options.ClampToHalfRange);
                    if (inSource == 0) continue;
                    clamped += inSource;
                    clampedTensors.Add(source.Name);
                    warnings.Add($"clamped {inSource} value(s) of '{source.Name}' to ±{HalfConversion.MaxHalf}.");
                }
                writer.EndTensor();
                progress?.Report(new ConvertProgress(recipe.Output.Name, r + 1, recipes.Count));
            }
            if (clamped > 0)
            {
                manifest.Metadata["clamped_values"] = clamped.ToString(System.Globalization.CultureInfo.InvariantCulture);
                manifest.Metadata["clamped_tensors"] = string.Join(",", clampedTensors);
            }
            writer.Finish(manifest, hasTokenizer ? tokenizerPath : null, Existing(inputDir, ModelManifest.DefaultTokenizerConfigFile),
                Existing(inputDir, ModelManifest.DefaultChatTemplateFile));
        }

        using (ModelFile.Open(outputDir, options.VerifyChecksums)) { }
        return new ConvertResult(manifest, recipes.Count, clamped, warnings);
    }

    private static string? Existing(string dir, string name) => File.Exists(Path.Combine(dir, name)) ? Path.Combine(dir, name) : null;

    /// <summary>Streams one source tensor into the open output tensor; returns how many values were clamped.</summary>
    private static long WriteSource(SafetensorsCheckpoint checkpoint, string name, string dtype, ModelWriter writer, float[] floats, Half[] halves, bool clamp)
    {
        long total = checkpoint.Tensors[name].ElementCount, clamped = 0;
        for (long first = 0; first < total; first += ChunkElements)
        {
            int count = (int)Math.Min(ChunkElements, total - first);
            var values = floats.AsSpan(0, count);
            checkpoint.ReadAsSingle(name, first, values);
            if (dtype == TensorDTypes.F16)
            {
                clamped += HalfConversion.ToHalf(values, halves.AsSpan(0, count), clamp, name, first);
                writer.Append(halves.AsSpan(0, count));
            }
            else
            {
                int bad = FirstNonFinite(values);
                if (bad >= 0) throw new InvalidModelException($"tensor '{name}': element {first + bad} is {values[bad]}; weights must be finite.");
                writer.Append(values);
            }
        }
        return clamped;
    }

    private static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>Every source must exist with its expected shape; all problems are reported together.</summary>
    private static void CheckSources(string inputDir, SafetensorsCheckpoint checkpoint, IReadOnlyList<TensorRecipe> recipes)
    {
        var missing = new List<string>();
        var wrongShape = new List<string>();
        foreach (var source in recipes.SelectMany(r => r.Sources))
        {
            if (!checkpoint.Tensors.TryGetValue(source.Name, out var info)) missing.Add(source.Name);
            else if (!TensorShape.SameShape(info.Shape, source.Shape))
                wrongShape.Add($"{source.Name} is {TensorShape.Format(info.Shape)}, expected {TensorShape.Format(source.Shape)}");
        }
        if (missing.Count > 0)
            throw new InvalidModelException($"{inputDir}: {missing.Count} tensor(s) missing from the checkpoint: {string.Join(", ", missing)}.");
        if (wrongShape.Count > 0)
            throw new InvalidModelException($"{inputDir}: tensor shapes do not match config.json: {string.Join("; ", wrongShape)}.");
    }

    /// <summary>Whether tokenizer.json's post-processor puts special token <paramref name="tokenId"/> first when encoding one sequence.</summary>
    private static bool TokenizerPrependsToken(string tokenizerPath, int tokenId)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(tokenizerPath));
            if (!document.RootElement.TryGetProperty("post_processor", out var processor)) return false;
            return TemplatePrependsToken(processor, tokenId);
        }
        catch (JsonException e) { throw new InvalidModelException($"{tokenizerPath}: not valid JSON: {e.Message}", e); }
    }

    private static bool TemplatePrependsToken(JsonElement processor, int tokenId)
    {
        if (processor.ValueKind != JsonValueKind.Object || !processor.TryGetProperty("type", out var type)) return false;
        if (type.ValueEquals("Sequence"))
            return processor.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array
                && list.EnumerateArray().Any(p => TemplatePrependsToken(p, tokenId));
        if (!type.ValueEquals("TemplateProcessing")
            || !processor.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array || single.GetArrayLength() == 0
            || !single[0].TryGetProperty("SpecialToken", out var first)
            || !first.TryGetProperty("id", out var firstName) || firstName.ValueKind != JsonValueKind.String
            || !processor.TryGetProperty("special_tokens", out var specials) || specials.ValueKind != JsonValueKind.Object
            || !specials.TryGetProperty(firstName.GetString()!, out var special)
            || !special.TryGetProperty("ids", out var ids) || ids.ValueKind != JsonValueKind.Array || ids.GetArrayLength() == 0)
            return false;
        return ids[0].TryGetInt32(out int id) && id == tokenId;
    }
}
