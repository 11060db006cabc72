using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Output of one NVRTC compilation.</summary>
public sealed record CompiledKernel(string SourceName, string Defines, int Arch, byte[] Image, bool IsCubin, string Log, bool FromCache);

/// <summary>
/// Compiles the embedded .cu sources with NVRTC for sm_XX (CUBIN; PTX when this NVRTC cannot emit CUBIN for
/// the arch) and caches images on disk keyed by SHA-256 of source, headers, defines, options, arch and NVRTC version.
/// </summary>
public sealed class KernelCompiler
{
    public const string CacheDirectoryVariable = "OPENAUTOGLM_KERNEL_CACHE";
    private const uint CacheMagic = 0x4B47414F; // "OAGK"
    private static readonly string[] HeaderNames = ["common.cuh"];

    public KernelCompiler(string? cacheDirectory = null)
    {
        CacheDirectory = cacheDirectory ?? DefaultCacheDirectory();
    }

    public string CacheDirectory { get; }

    /// <summary>$OPENAUTOGLM_KERNEL_CACHE, else $XDG_CACHE_HOME/openautoglm/kernels, else ~/.cache/openautoglm/kernels.</summary>
    public static string DefaultCacheDirectory()
    {
        string? explicitDir = Environment.GetEnvironmentVariable(CacheDirectoryVariable);
        if (!string.IsNullOrWhiteSpace(explicitDir)) return explicitDir;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrWhiteSpace(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "openautoglm", "kernels");
    }

    /// <summary>Embedded source text by logical name, e.g. "Ops/Gemv.cu" or "Ops/common.cuh".</summary>
    public static string ReadSource(string name)
    {
        Assembly asm = typeof(KernelCompiler).Assembly;
        string normalized = name.Replace('\\', '/');
        string? resource = asm.GetManifestResourceNames().FirstOrDefault(r => r.Replace('\\', '/') == normalized)
            ?? throw new FileNotFoundException($"kernel source '{name}' is not embedded in {asm.GetName().Name}");
        using Stream s = asm.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(s, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>All embedded .cu sources (logical names).</summary>
    public static IReadOnlyList<string> Sources() =>
        [.. typeof(KernelCompiler).Assembly.GetManifestResourceNames()
            .Select(r => r.Replace('\\', '/')).Where(r => r.EndsWith(".cu", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    /// <summary>Headers made available to #include (name → text).</summary>
    public static IReadOnlyList<(string Name, string Text)> Headers() =>
        [.. HeaderNames.Select(h => (h, ReadSource("Ops/" + h)))];

    /// <summary>Architectures this NVRTC can emit CUBIN for (e.g. 80, 86, 90). Empty when NVRTC is missing.</summary>
    public static unsafe IReadOnlyList<int> SupportedArchs()
    {
        try
        {
            int n;
            if (Nvrtc.nvrtcGetNumSupportedArchs(&n) != nvrtcResult.NVRTC_SUCCESS || n <= 0) return [];
            int[] archs = new int[n];
            fixed (int* p = archs) CudaCheck.Check(Nvrtc.nvrtcGetSupportedArchs(p));
            return archs;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return [];
        }
    }

    public CompiledKernel Compile(string sourceName, KernelDefines defines, int arch, bool verbose = false)
    {
        Version nvrtc = CudaAvailability.NvrtcVersion()
            ?? throw new CudaException("NVRTC not found (libnvrtc.so.13/.12/.11.2; set OPENAUTOGLM_NVRTC to its path)");
        string source = ReadSource(sourceName);
        IReadOnlyList<int> supported = SupportedArchs();
        bool cubin = supported.Count == 0 || supported.Contains(arch);
        int targetArch = cubin ? arch : supported.Where(a => a <= arch).DefaultIfEmpty(arch).Max();
        var options = new List<string>
        {
            cubin ? $"--gpu-architecture=sm_{arch}" : $"--gpu-architecture=compute_{targetArch}",
            "--std=c++17",
            "--fmad=true",
            "--extra-device-vectorization",
        };
        foreach (var kv in defines.Values) options.Add($"--define-macro={kv.Key}={kv.Value}");
        if (verbose) options.Add("--ptxas-options=-v");

        var hash = new StringBuilder();
        hash.Append(source).Append('\0');
        foreach (var (name, text) in Headers()) hash.Append(name).Append('\0').Append(text).Append('\0');
        hash.Append(string.Join('\n', options)).Append('\0').Append(arch).Append('\0').Append(nvrtc);
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(hash.ToString())));
        string path = Path.Combine(CacheDirectory, key + ".bin");

        if (TryReadCache(path, out byte[]? image, out bool isCubin, out string? log))
        {
            return new CompiledKernel(sourceName, defines.Key, arch, image, isCubin, log, FromCache: true);
        }
        (image, isCubin, log) = CompileNow(sourceName, source, options);
        TryWriteCache(path, image, isCubin, log);
        return new CompiledKernel(sourceName, defines.Key, arch, image, isCubin, log, FromCache: false);
    }

    private static unsafe (byte[] Image, bool IsCubin, string Log) CompileNow(string sourceName, string source, List<string> options)
    {
        var headers = Headers();
        var pinned = new List<GCHandle>();
        byte* Utf8(string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s + "\0");
            GCHandle h = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            pinned.Add(h);
            return (byte*)h.AddrOfPinnedObject();
        }
        nint prog = 0;
        try
        {
            byte** headerTexts = stackalloc byte*[headers.Count];
            byte** headerNames = stackalloc byte*[headers.Count];
            for (int i = 0; i < headers.Count; i++)
            {
                headerTexts[i] = Utf8(headers[i].Text);
                headerNames[i] = Utf8(headers[i].Name);
            }
            CudaCheck.Check(Nvrtc.nvrtcCreateProgram(&prog, Utf8(source), Utf8(Path.GetFileName(sourceName)), headers.Count, headerTexts, headerNames));
            byte** opts = stackalloc byte*[options.Count];
            for (int i = 0; i < options.Count; i++) opts[i] = Utf8(options[i]);
            nvrtcResult result = Nvrtc.nvrtcCompileProgram(prog, options.Count, opts);
            nuint logSize;
            CudaCheck.Check(Nvrtc.nvrtcGetProgramLogSize(prog, &logSize));
            byte[] logBytes = new byte[(int)logSize + 1];
            fixed (byte* l = logBytes) CudaCheck.Check(Nvrtc.nvrtcGetProgramLog(prog, l));
            string log = Encoding.UTF8.GetString(logBytes).TrimEnd('\0');
            if (result != nvrtcResult.NVRTC_SUCCESS)
            {
                throw new NvrtcCompileException(sourceName, log, options);
            }
            nuint size;
            if (options[0].StartsWith("--gpu-architecture=sm_", StringComparison.Ordinal) &&
                Nvrtc.nvrtcGetCUBINSize(prog, &size) == nvrtcResult.NVRTC_SUCCESS && size > 0)
            {
                byte[] cubin = new byte[(int)size];
                fixed (byte* c = cubin) CudaCheck.Check(Nvrtc.nvrtcGetCUBIN(prog, c));
                return (cubin, true, log);
            }
            CudaCheck.Check(Nvrtc.nvrtcGetPTXSize(prog, &size));
            byte[] ptx = new byte[(int)size];
            fixed (byte* p = ptx) CudaCheck.Check(Nvrtc.nvrtcGetPTX(prog, p));
            return (ptx, false, log);
        }
        finally
        {
            if (prog != 0) Nvrtc.nvrtcDestroyProgram(&prog);
            foreach (GCHandle h in pinned) h.Free();
        }
    }

    // Cache entry: magic, isCubin, log length + log, image length + image, SHA-256 of everything before it.
    private static bool TryReadCache(string path, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? image, out bool isCubin, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? log)
    {
        image = null;
        log = null;
        isCubin = false;
        try
        {
            if (!File.Exists(path)) return false;
            byte[] all = File.ReadAllBytes(path);
            if (all.Length < 4 + 1 + 4 + 4 + 32) return false;
            byte[] digest = SHA256.HashData(all.AsSpan(0, all.Length - 32));
            if (!digest.AsSpan().SequenceEqual(all.AsSpan(all.Length - 32))) return false;
            using var r = new BinaryReader(new MemoryStream(all, 0, all.Length - 32));
            if (r.ReadUInt32() != CacheMagic) return false;
            isCubin = r.ReadBoolean();
            log = Encoding.UTF8.GetString(r.ReadBytes(r.ReadInt32()));
            image = r.ReadBytes(r.ReadInt32());
            return image.Length > 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException or ArgumentException)
        {
            return false; // corrupt or unreadable: recompile
        }
    }

    private void TryWriteCache(string path, byte[] image, bool isCubin, string log)
    {
        try
        {
            Directory.CreateDirectory(CacheDirectory);
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(CacheMagic);
                w.Write(isCubin);
                byte[] logBytes = Encoding.UTF8.GetBytes(log);
                w.Write(logBytes.Length);
                w.Write(logBytes);
                w.Write(image.Length);
                w.Write(image);
            }
            ms.Write(SHA256.HashData(ms.ToArray()));
            string tmp = path + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(tmp, ms.ToArray());
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only cache is not fatal: the image is simply recompiled next time.
        }
    }
}
