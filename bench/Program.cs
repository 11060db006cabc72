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
if (args.Length > 0 && args[0] == "prefetch")
{
    GemvPrefetchProbe.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount);
    return;
}
if (args.Length > 0 && args[0] == "quick")
{
    QuickBench.Run(args.AsSpan(1));
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(QuickBench).Assembly).Run(args);
