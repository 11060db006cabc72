using System.Reflection;
using System.Runtime.InteropServices;

namespace OpenAutoGlm.Kernels.Native;

/// <summary>
/// Maps the logical library names used by the interop layers ("cuda", "nvrtc", "cublas") to the
/// first loadable soname on this host. Registered once per assembly.
/// </summary>
public static class NativeLibraryResolver
{
    public const string Cuda = "cuda";
    public const string Nvrtc = "nvrtc";
    public const string Cublas = "cublas";

    /// <summary>Environment variable with an explicit path to the NVRTC library.</summary>
    public const string NvrtcOverrideVariable = "OPENAUTOGLM_NVRTC";

    private static int _registered;
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, nint> Loaded = new(StringComparer.Ordinal);

    public static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
        }
    }

    /// <summary>Candidate file names, in probing order, for a logical library name.</summary>
    public static IReadOnlyList<string> Candidates(string logicalName)
    {
        var list = new List<string>();
        switch (logicalName)
        {
            case Cuda:
                if (OperatingSystem.IsWindows()) list.Add("nvcuda.dll");
                else { list.Add("libcuda.so.1"); list.Add("libcuda.so"); }
                break;
            case Nvrtc:
                string? overridePath = Environment.GetEnvironmentVariable(NvrtcOverrideVariable);
                if (!string.IsNullOrWhiteSpace(overridePath)) list.Add(overridePath);
                if (OperatingSystem.IsWindows())
                {
                    list.AddRange(["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"]);
                }
                else
                {
                    list.AddRange(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"]);
                }
                break;
            case Cublas:
                if (OperatingSystem.IsWindows())
                {
                    list.AddRange(["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"]);
                }
                else
                {
                    list.AddRange(["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"]);
                }
                break;
        }
        return list;
    }

    /// <summary>Loads the library for a logical name; returns false (never throws) when none is found.</summary>
    public static bool TryLoad(string logicalName, out nint handle, out string? loadedName)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(logicalName, out handle))
            {
                loadedName = logicalName;
                return true;
            }
            foreach (string candidate in Candidates(logicalName))
            {
                try
                {
                    if (NativeLibrary.TryLoad(candidate, out handle))
                    {
                        Loaded[logicalName] = handle;
                        loadedName = candidate;
                        return true;
                    }
                }
                catch (Exception e) when (e is BadImageFormatException or ArgumentException)
                {
                    // Wrong architecture or malformed path: try the next candidate.
                }
            }
            handle = 0;
            loadedName = null;
            return false;
        }
    }

    /// <summary>True when the logical library exports the symbol (used for optional entry points).</summary>
    public static bool HasExport(string logicalName, string symbol) =>
        TryLoad(logicalName, out nint h, out _) && NativeLibrary.TryGetExport(h, symbol, out _);

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName is Cuda or Nvrtc or Cublas && TryLoad(libraryName, out nint handle, out _))
        {
            return handle;
        }
        return 0; // fall back to the default probing, which raises DllNotFoundException
    }
}
