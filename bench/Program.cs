using BenchmarkDotNet.Running;
using OpenAutoGlm.Bench;

if (args.Length > 0 && args[0] == "pool")
{
    PoolProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "slices")
{
    GemmSliceProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "packed")
{
    PackedProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount, args.Length > 2 ? args[2] : null);
    return;
}
if (args.Length > 0 && args[0] == "gemm-rows")
{
    GemmRowsProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "prefetch")
{
    GemvPrefetchProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "encoder-ops")
{
    EncoderOpProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "decode-step")
{
    // decode-step MODEL_DIR [THREADS]
    DecodeStepProbe.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "quick")
{
    QuickBench.Run(args.AsSpan(1));
    return;
}
if (args.Length > 0 && args[0] == "synthetic")
{
    // synthetic --preset tiny|llama-125m|open-autoglm-vitb16 --output DIR: a random model in the converted format, for benchmarks
    string preset = ArgValue("--preset") ?? "llama-125m";
    string output = ArgValue("--output") ?? throw new ArgumentException("synthetic needs --output DIR");
    if (!SyntheticModel.Presets.TryGetValue(preset, out var shape))
        throw new ArgumentException($"unknown preset '{preset}' (known: {string.Join(", ", SyntheticModel.Presets.Keys)})");
    SyntheticModel.Write(output, shape);
    Console.WriteLine($"wrote {preset} to {output}");
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(QuickBench).Assembly).Run(args);

string? ArgValue(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
