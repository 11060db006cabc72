using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Emulation;

/// <summary>
/// <c>--device cuda-emu</c>: compiles the same .cu sources with g++ against cuda_emu.h into a shared library
/// (cached by hash like the CUBIN cache) and launches kernels through its <c>emu_launch</c> entry point.
/// Device memory is host memory.
/// </summary>
public sealed partial class EmuBackend : IKernelBackend
{
    public const string CompilerVariable = "OPENAUTOGLM_CXX";
    private const string HeaderResource = "Emulation/cuda_emu.h";

    private readonly Dictionary<(string, string), nint> _libraries = [];
    private readonly List<(nint Launch, byte[] Name)> _functions = [(0, [])]; // index 0 reserved (null handle)
    private readonly Dictionary<(string, string, string), CudaFunction> _byName = [];
    private readonly Lock _gate = new();
    private readonly string _compiler;
    private readonly string _compilerVersion;

    private EmuBackend(string compiler, string version, string cacheDirectory)
    {
        _compiler = compiler;
        _compilerVersion = version;
        CacheDirectory = cacheDirectory;
    }

    public string Name => "cuda-emu";
    public int Arch => 80;
    public IDeviceMemory Memory => HostDeviceMemory.Instance;
    public string CacheDirectory { get; }

    /// <summary>Whether a C++ compiler (OPENAUTOGLM_CXX, else g++) is usable; <paramref name="reason"/> says why not.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            reason = "CUDA emulation needs a POSIX host (ucontext)";
            return false;
        }
        string cxx = CompilerPath();
        string? version = RunForOutput(cxx, "--version");
        if (version is null)
        {
            reason = $"{cxx} not found (CUDA emulation compiles kernels with g++)";
            return false;
        }
        reason = version.Split('\n')[0].Trim();
        return true;
    }

    /// <summary>Creates the emulator; throws <see cref="CudaException"/> when no C++ compiler is found.</summary>
    public static EmuBackend Create(string? cacheDirectory = null)
    {
        if (!IsAvailable(out string reason)) throw new CudaException($"CUDA emulation unavailable: {reason}");
        string dir = cacheDirectory ?? Path.Combine(KernelCompiler.DefaultCacheDirectory(), "emu");
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (cacheDirectory is null && e is IOException or UnauthorizedAccessException)
        {
            dir = Path.Combine(Path.GetTempPath(), "openautoglm-emu"); // read-only home: build under the temp directory
        }
        return new EmuBackend(CompilerPath(), reason, dir);
    }

    private static string CompilerPath()
    {
        string? c = Environment.GetEnvironmentVariable(CompilerVariable);
        return string.IsNullOrWhiteSpace(c) ? "g++" : c;
    }

    public static string ReadHeader()
    {
        Assembly asm = typeof(EmuBackend).Assembly;
        string? name = asm.GetManifestResourceNames().FirstOrDefault(r => r.Replace('\\', '/') == HeaderResource)
            ?? throw new FileNotFoundException($"{HeaderResource} is not embedded");
        using var reader = new StreamReader(asm.GetManifestResourceStream(name)!, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s+)?void\s+(?:__launch_bounds__\s*\([^)]*\)\s+)?(\w+)\s*\(")]
    private static partial Regex KernelPattern();

    /// <summary>Names of the <c>extern "C" __global__</c> kernels in a source.</summary>
    public static IReadOnlyList<string> KernelNames(string source) =>
        [.. KernelPattern().Matches(source).Select(m => m.Groups[1].Value).Distinct()];

    public unsafe CudaFunction GetFunction(string sourceName, string kernelName, KernelDefines defines)
    {
        lock (_gate)
        {
            if (_byName.TryGetValue((sourceName, defines.Key, kernelName), out CudaFunction f)) return f;
            if (!_libraries.TryGetValue((sourceName, defines.Key), out nint lib))
            {
                lib = NativeLibrary.Load(Build(sourceName, defines));
                _libraries[(sourceName, defines.Key)] = lib;
            }
            nint launch = NativeLibrary.GetExport(lib, "emu_launch");
            _functions.Add((launch, Encoding.UTF8.GetBytes(kernelName + "\0")));
            f = new CudaFunction(_functions.Count - 1, kernelName);
            _byName[(sourceName, defines.Key, kernelName)] = f;
            return f;
        }
    }

    public unsafe void Launch(CudaFunction function, Dim3 grid, Dim3 block, uint sharedBytes, scoped ref KernelArgs args)
    {
        nint launch;
        byte[] name;
        lock (_gate)
        {
            if (function.Handle <= 0 || function.Handle >= _functions.Count)
            {
                throw new ArgumentException($"{function.Name} was not obtained from this emulator", nameof(function));
            }
            (launch, name) = _functions[(int)function.Handle];
            if (_capture is { } recording)
            {
                var slots = new ulong[args.Count];
                for (int i = 0; i < slots.Length; i++) slots[i] = args.Slot(i);
                recording.Add(new RecordedLaunch(function, grid, block, sharedBytes, slots));
                return;
            }
        }
        void** ptrs = stackalloc void*[Math.Max(args.Count, 1)];
        args.FillPointers(ptrs);
        var fn = (delegate* unmanaged<byte*, uint, uint, uint, uint, uint, uint, uint, void**, int>)launch;
        int rc;
        fixed (byte* n = name)
        {
            rc = fn(n, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, sharedBytes, ptrs);
        }
        if (rc != 0)
        {
            string why = rc switch { 1 => "invalid launch geometry", 2 => "barrier deadlock", 3 => "unknown kernel", _ => $"error {rc}" };
            throw new CudaException($"cuda-emu launch of {function.Name} grid=({grid.X},{grid.Y},{grid.Z}) block=({block.X},{block.Y},{block.Z}) failed: {why}");
        }
    }

    public void Synchronize() { }

    private List<RecordedLaunch>? _capture;

    private sealed record RecordedLaunch(CudaFunction Function, Dim3 Grid, Dim3 Block, uint SharedBytes, ulong[] Slots);

    public void BeginCapture()
    {
        lock (_gate)
        {
            if (_capture is not null) throw new InvalidOperationException("A capture is already in progress.");
            _capture = [];
        }
    }

    public IKernelGraph EndCapture()
    {
        lock (_gate)
        {
            var launches = _capture ?? throw new InvalidOperationException("No capture is in progress.");
            _capture = null;
            return new Graph(this, launches.ToArray());
        }
    }

    /// <summary>The emulator's graph: the recorded launches run again in order, arguments as recorded.</summary>
    private sealed class Graph(EmuBackend owner, RecordedLaunch[] launches) : IKernelGraph
    {
        private bool _disposed;

        public void Launch()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var l in launches)
            {
                var args = new KernelArgs();
                foreach (ulong slot in l.Slots) args.UInt64(slot);
                owner.Launch(l.Function, l.Grid, l.Block, l.SharedBytes, ref args);
            }
        }

        public void Dispose() => _disposed = true;
    }

    /// <summary>Builds the emulator libraries for several variants in parallel (warms the cache; compilation dominates cold runs).</summary>
    public void Prebuild(IEnumerable<Ops.KernelVariant> variants) =>
        Parallel.ForEach(variants, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            v => Build(v.Source, v.Defines));

    /// <summary>Builds (or finds in the cache) the shared library for one source + defines; returns its path.</summary>
    public string Build(string sourceName, KernelDefines defines)
    {
        string source = KernelCompiler.ReadSource(sourceName);
        string header = ReadHeader();
        var headers = KernelCompiler.Headers();
        string fileName = Path.GetFileName(sourceName);
        IReadOnlyList<string> kernels = KernelNames(source);
        var wrapper = new StringBuilder();
        wrapper.AppendLine("#include \"cuda_emu.h\"");
        wrapper.AppendLine($"#include \"{fileName}\"");
        wrapper.AppendLine("static const emu::Entry emu_entries[] = {");
        foreach (string k in kernels) wrapper.AppendLine($"    {{\"{k}\", [](void** a) {{ emu::invoke(&{k}, a); }}}},");
        wrapper.AppendLine("    {nullptr, nullptr}};");
        wrapper.AppendLine("""
            extern "C" __attribute__((visibility("default"))) int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz,
                unsigned bx, unsigned by, unsigned bz, unsigned shared, void** args)
            {
                for (const emu::Entry* e = emu_entries; e->name; e++)
                    if (std::strcmp(e->name, name) == 0) return emu::run(e->thunk, gx, gy, gz, bx, by, bz, shared, args);
                return 3;
            }
            """);
        var flags = new List<string> { "-std=c++17", "-O1", "-fPIC", "-shared", "-fno-strict-aliasing", "-w" };
        foreach (var kv in defines.Values) flags.Add($"-D{kv.Key}={kv.Value}");

        var hashInput = new StringBuilder().Append(source).Append('\0').Append(header).Append('\0').Append(wrapper).Append('\0')
            .Append(string.Join(' ', flags)).Append('\0').Append(_compilerVersion);
        foreach (var (name, text) in headers) hashInput.Append('\0').Append(name).Append('\0').Append(text);
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(hashInput.ToString())));
        string output = Path.Combine(CacheDirectory, $"{Path.GetFileNameWithoutExtension(fileName)}-{key[..16]}.so");
        if (File.Exists(output) && new FileInfo(output).Length > 0) return output;

        Directory.CreateDirectory(CacheDirectory);
        string work = Path.Combine(CacheDirectory, "build-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            File.WriteAllText(Path.Combine(work, "cuda_emu.h"), header);
            File.WriteAllText(Path.Combine(work, fileName), source);
            foreach (var (name, text) in headers) File.WriteAllText(Path.Combine(work, name), text);
            File.WriteAllText(Path.Combine(work, "emu_main.cpp"), wrapper.ToString());
            string tmpOut = Path.Combine(work, "out.so");
            var psi = new ProcessStartInfo(_compiler)
            {
                WorkingDirectory = work,
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (string f in flags) psi.ArgumentList.Add(f);
            psi.ArgumentList.Add("-I" + work);
            psi.ArgumentList.Add("-o");
            psi.ArgumentList.Add(tmpOut);
            psi.ArgumentList.Add("emu_main.cpp");
            using Process p = Process.Start(psi) ?? throw new CudaException($"could not start {_compiler}");
            Task<string> stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                throw new CudaException($"cuda-emu: {_compiler} failed to compile {sourceName} [{defines.Key}] (exit {p.ExitCode}):\n{stderr}{stdout.Result}");
            }
            File.Move(tmpOut, output, overwrite: true);
            return output;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string? RunForOutput(string file, string args)
    {
        try
        {
            var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using Process? p = Process.Start(psi);
            if (p is null) return null;
            string o = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? o : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    public void Dispose()
    {
        // Loaded emulator libraries stay mapped for the process lifetime (unloading code that may still be
        // referenced by cached CudaFunction values is unsafe); nothing else to release.
        lock (_gate)
        {
            _byName.Clear();
        }
    }
}
