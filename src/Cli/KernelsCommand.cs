using System.CommandLine;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Ops;

namespace OpenAutoGlm.Cli;

/// <summary>
/// <c>autoglm kernels</c>: <c>--report</c> compiles every CUDA kernel variant with NVRTC (no GPU needed) and lists registers,
/// spills and shared memory; <c>--parity</c> runs every op on the GPU and under CPU emulation on fresh random inputs.
/// </summary>
internal static class KernelsCommand
{
    public static Command Create()
    {
        var report = new Option<bool>("--report") { Description = "Compile every kernel variant for sm_80 and sm_90 and print its resources." };
        var parity = new Option<bool>("--parity") { Description = "Compare every op on the GPU against the CPU emulation." };
        var json = CommonOptions.Json();
        var cmd = new Command("kernels", "Inspect the CUDA kernels.") { report, parity, json };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(report) == parse.GetValue(parity)) throw new ArgumentException("Give exactly one of --report or --parity.");
            if (parse.GetValue(report))
            {
                var rows = KernelReport.Run();
                Console.WriteLine(parse.GetValue(json) ? KernelReport.ToJson(rows) : KernelReport.ToTable(rows));
                return rows.Any(r => r.SpillBytes > 0) ? 2 : 0;
            }
            var probe = CudaAvailability.Probe();
            if (!probe.Available) throw new InvalidOperationException($"--parity needs a GPU: {probe.Reason}.");
            using var gpu = KernelBackends.Create("cuda");
            using var emu = KernelBackends.Create("cuda-emu");
            var results = KernelParity.Run(gpu, emu);
            Console.WriteLine($"{"op",-28} {"elements",10} {"max abs err",12} {"max rel err",12}  result");
            foreach (var r in results)
                Console.WriteLine($"{r.Op,-28} {r.Elements,10} {r.MaxAbsError,12:E2} {r.MaxRelError,12:E2}  {(r.Passed ? "ok" : "FAIL")}");
            return results.All(r => r.Passed) ? 0 : 2;
        });
        return cmd;
    }
}
