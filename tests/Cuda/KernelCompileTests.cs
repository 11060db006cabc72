using Xunit;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Ops;

namespace OpenAutoGlm.Tests.Cuda;

// One class so the NVRTC compile test and the report share cache entries instead of compiling concurrently.
public sealed class KernelCompileTests
{
    private static readonly KernelCompiler Compiler = new();

    [NvrtcFact]
    public void Every_kernel_variant_compiles_for_sm80_and_sm90()
    {
        foreach (int arch in KernelReport.DefaultArchs)
        {
            foreach (KernelVariant v in KernelCatalog.Variants())
            {
                CompiledKernel k = Compiler.Compile(v.Source, v.Defines, arch, verbose: true);
                Assert.True(k.Image.Length > 0, $"{v} sm_{arch}: empty image");
                Assert.True(k.IsCubin, $"{v} sm_{arch}: expected CUBIN, got PTX");
            }
        }
    }

    [NvrtcFact]
    public void Kernel_report_has_rows_for_every_kernel_and_no_spills()
    {
        IReadOnlyList<KernelReportRow> rows = KernelReport.Run(Compiler);
        Assert.NotEmpty(rows);
        foreach (string arch in new[] { "sm_80", "sm_90" })
        {
            foreach (string kernel in new[] { "embedding_gather", "rms_norm_residual", "layer_norm", "rope", "kv_store", "gemv_f16",
                         "gemm_f16_mma", "convert_f32_to_f16", "attention_prefill", "attention_decode_split", "attention_decode_combine",
                         "fusion_gate", "swiglu", "gelu_erf", "gelu_tanh", "softmax_rows", "argmax_rows", "repetition_penalty", "sample_filtered" })
            {
                Assert.Contains(rows, r => r.Kernel == kernel && r.Arch == arch);
            }
        }
        KernelReportRow[] spilling = [.. rows.Where(r => r.SpillBytes != 0)];
        Assert.True(spilling.Length == 0, "spilling kernels:\n" + KernelReport.ToTable(spilling));
        Assert.All(rows, r => Assert.InRange(r.Registers, 1, 255));
        string json = KernelReport.ToJson(rows);
        Assert.Contains("\"spill_bytes\": 0", json, StringComparison.Ordinal);
        Assert.Contains("\"shared_bytes\"", json, StringComparison.Ordinal);
    }

    [NvrtcFact]
    public void Corrupt_cache_entry_is_recompiled()
    {
        string dir = Path.Combine(Path.GetTempPath(), "oag-kcache-" + Guid.NewGuid().ToString("N"));
        try
        {
            var compiler = new KernelCompiler(dir);
            CompiledKernel first = compiler.Compile(FusionGate.Source, KernelDefines.None, 80);
            Assert.False(first.FromCache);
            Assert.True(compiler.Compile(FusionGate.Source, KernelDefines.None, 80).FromCache);
            string entry = Assert.Single(Directory.GetFiles(dir, "*.bin"));
            byte[] bytes = File.ReadAllBytes(entry);
            bytes[bytes.Length / 2] ^= 0x5A;
            File.WriteAllBytes(entry, bytes);
            CompiledKernel again = compiler.Compile(FusionGate.Source, KernelDefines.None, 80);
            Assert.False(again.FromCache);
            Assert.Equal(first.Image, again.Image);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [NvrtcFact]
    public void Compile_error_carries_log_and_options()
    {
        // HEAD_DIM=0 makes zero-length shared arrays / division by zero in constant expressions.
        var ex = Assert.ThrowsAny<CudaException>(() =>
            new KernelCompiler(Path.Combine(Path.GetTempPath(), "oag-kcache-err")).Compile(
                AttentionDecode.Source, new KernelDefines().Set("HEAD_DIM", "(").Set("GQA", 1), 90));
        var nvrtc = Assert.IsType<NvrtcCompileException>(ex);
        Assert.Contains("--gpu-architecture=sm_90", nvrtc.Options);
        Assert.False(string.IsNullOrWhiteSpace(nvrtc.Log));
    }

    [Fact]
    public void Ptxas_log_parser_reads_registers_spills_smem_stack()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'k1' for 'sm_90'
            ptxas info    : Function properties for k1
            ptxas         .     16 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
            ptxas info    : Used 72 registers, 17408 bytes smem, 400 bytes cmem[0]
            ptxas info    : Compiling entry function 'k2' for 'sm_90'
            ptxas info    : Function properties for k2
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 40 registers, 368 bytes cmem[0]
            """;
        IReadOnlyList<KernelReportRow> rows = KernelReport.ParsePtxasLog(log, "v", 90);
        Assert.Equal(2, rows.Count);
        Assert.Equal(new KernelReportRow("k1", "v", "sm_90", 72, 20, 17408, 16), rows[0]);
        Assert.Equal(new KernelReportRow("k2", "v", "sm_90", 40, 0, 0, 0), rows[1]);
    }
}
