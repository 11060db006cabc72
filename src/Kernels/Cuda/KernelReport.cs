using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using OpenAutoGlm.Kernels.Ops;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Resource usage of one kernel entry for one architecture, from ptxas -v.</summary>
public sealed record KernelReportRow(
    string Kernel,
    string Variant,
    string Arch,
    int Registers,
    int SpillBytes,
    int SharedBytes,
    int StackBytes);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(List<KernelReportRow>))]
public sealed partial class KernelReportJsonContext : JsonSerializerContext;

/// <summary>
/// Compiles every kernel variant the engine uses (<see cref="KernelCatalog"/>) with <c>--ptxas-options=-v</c> and
/// parses NVRTC's info log. Backs <c>autoglm kernels --report [--json]</c>.
/// </summary>
public static partial class KernelReport
{
    public static readonly int[] DefaultArchs = [80, 90];

    public static IReadOnlyList<KernelReportRow> Run(KernelCompiler? compiler = null, IEnumerable<int>? archs = null,
        IEnumerable<int>? headDims = null, IEnumerable<int>? gqaRatios = null)
    {
        compiler ??= new KernelCompiler();
        var rows = new List<KernelReportRow>();
        foreach (int arch in archs ?? DefaultArchs)
        {
            foreach (KernelVariant v in KernelCatalog.Variants(headDims, gqaRatios))
            {
                CompiledKernel k = compiler.Compile(v.Source, v.Defines, arch, verbose: true);
                IReadOnlyList<KernelReportRow> parsed = ParsePtxasLog(k.Log, v.ToString(), arch);
                if (parsed.Count == 0)
                {
                    throw new CudaException($"no ptxas resource info for {v} on sm_{arch} (image is {(k.IsCubin ? "CUBIN" : "PTX")}); log:\n{k.Log}");
                }
                rows.AddRange(parsed);
            }
        }
        return rows;
    }

    [GeneratedRegex(@"Compiling entry function '(?<name>[^']+)' for '(?<arch>sm_\d+a?)'")]
    private static partial Regex EntryPattern();

    [GeneratedRegex(@"(?<stack>\d+) bytes stack frame, (?<st>\d+) bytes spill stores, (?<ld>\d+) bytes spill loads")]
    private static partial Regex FramePattern();

    [GeneratedRegex(@"Used (?<regs>\d+) registers(?:.*?(?<smem>\d+) bytes smem)?")]
    private static partial Regex UsedPattern();

    /// <summary>Parses ptxas -v output (one row per "Compiling entry function" block).</summary>
    public static IReadOnlyList<KernelReportRow> ParsePtxasLog(string log, string variant, int arch)
    {
        var rows = new List<KernelReportRow>();
        string? name = null;
        string archName = $"sm_{arch}";
        int stack = 0, spill = 0;
        foreach (string line in log.Split('\n'))
        {
            Match m = EntryPattern().Match(line);
            if (m.Success)
            {
                name = m.Groups["name"].Value;
                archName = m.Groups["arch"].Value;
                stack = spill = 0;
                continue;
            }
            if (name is null) continue;
            m = FramePattern().Match(line);
            if (m.Success)
            {
                stack = Int(m.Groups["stack"].Value);
                spill = Int(m.Groups["st"].Value) + Int(m.Groups["ld"].Value);
                continue;
            }
            m = UsedPattern().Match(line);
            if (m.Success)
            {
                int smem = m.Groups["smem"].Success ? Int(m.Groups["smem"].Value) : 0;
                rows.Add(new KernelReportRow(name, variant, archName, Int(m.Groups["regs"].Value), spill, smem, stack));
                name = null;
            }
        }
        return rows;
    }

    private static int Int(string s) => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);

    public static string ToJson(IReadOnlyList<KernelReportRow> rows) =>
        JsonSerializer.Serialize([.. rows], KernelReportJsonContext.Default.ListKernelReportRow);

    public static string ToTable(IReadOnlyList<KernelReportRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"kernel",-26} {"arch",-6} {"regs",5} {"spill",6} {"smem",7} {"stack",6}  variant");
        foreach (KernelReportRow r in rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Kernel,-26} {r.Arch,-6} {r.Registers,5} {r.SpillBytes,6} {r.SharedBytes,7} {r.StackBytes,6}  {r.Variant}");
        }
        return sb.ToString();
    }
}
