using System.CommandLine;
using System.Globalization;
using OpenAutoGlm.Engine;

namespace OpenAutoGlm.Cli;

/// <summary>Options shared by several commands, defined once.</summary>
internal static class CommonOptions
{
    /// <summary>
    /// The default model directory: $AUTOGLM_MODEL, else the committed demo model (models/demo), else models/default
    /// (made by scripts/setup-default-model.sh), each looked up in the repository checkout above the executable.
    /// </summary>
    public static string DefaultModelDirectory()
    {
        if (Environment.GetEnvironmentVariable("AUTOGLM_MODEL") is { Length: > 0 } env) return env;
        return FindInCheckout(Path.Combine("models", "demo"), "model.json")
            ?? FindInCheckout(Path.Combine("models", "default"), "model.json")
            ?? Path.Combine("models", "demo");
    }

    /// <summary>The folder <paramref name="relative"/> holding <paramref name="marker"/> in the repository checkout above the executable; null when none does.</summary>
    public static string? FindInCheckout(string relative, string marker)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(Path.Combine(candidate, marker))) return candidate;
        }
        return null;
    }

    public static Option<string> Model() => new("--model", "-m")
    {
        Description = "Converted model directory (default: $AUTOGLM_MODEL, else models/demo, else models/default).",
        DefaultValueFactory = _ => DefaultModelDirectory(),
    };

    public static Option<int> Threads() => new("--threads", "-t")
    {
        Description = "Worker threads (default: all cores).",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    public static Option<string?> Ids() => new("--ids") { Description = "Comma-separated token ids, fed exactly as given." };

    public static Option<bool> Json() => new("--json") { Description = "Print one JSON object." };

    public static Option<string[]> Images() => new("--image")
    {
        Description = "Image file (PNG, JPEG, BMP, GIF, WebP); repeatable, in prompt order. Needs an open_autoglm model.",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Option<int?> Resolution() => new("--resolution") { Description = "Pin every image's resolution R (a multiple of the patch size)." };

    public static IReadOnlyList<Engine.Vision.ImageInput> ImageInputs(string[]? paths) =>
        (paths ?? []).Select(Engine.Vision.ImageInput.FromFile).ToArray();

    /// <summary>Whether the user typed the option (not its default).</summary>
    public static bool IsExplicit(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };


    public static Option<string> Device() => new("--device")
    {
        Description = "cpu, cuda, cuda:N, cuda-emu (CUDA kernels emulated on the CPU) or auto (CUDA when usable, else CPU).",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<bool> HugePages() => new("--huge-pages")
    {
        Description = "Read the weights into transparent huge pages instead of mapping them (Linux): faster CPU decoding, costs a copy at load.",
    };

    public static AutoGlmModel Load(string dir, int threads, string device = "cpu", int? prefillChunk = null, bool hugePages = false) =>
        AutoGlmModel.Load(dir, new ModelOptions
        {
            Threads = threads,
            Device = device,
            PrefillChunk = prefillChunk ?? 256,
            Log = Console.Error.WriteLine,
            Weights = hugePages ? Weights.WeightResidency.HugePages : Weights.WeightResidency.Mapped,
        });

    public static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                throw new FormatException($"--ids: '{parts[i]}' is not an integer token id.");
        if (ids.Length == 0) throw new FormatException("--ids: no token ids given.");
        return ids;
    }
}
