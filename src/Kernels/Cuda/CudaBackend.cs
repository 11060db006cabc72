using System.Runtime.InteropServices;
using System.Text;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Device memory through cuMemAlloc_v2 on one context.</summary>
public sealed class CudaDeviceMemory(CudaContextHandle context) : IDeviceMemory
{
    public unsafe SafeHandle Allocate(long bytes, out DevicePtr pointer)
    {
        using var scope = new CurrentContext(context);
        ulong dptr;
        CudaCheck.Check(CuDriver.cuMemAlloc_v2(&dptr, (nuint)bytes), context.Device);
        pointer = new DevicePtr(dptr);
        return new DeviceMemoryHandle(dptr, context);
    }

    public unsafe void CopyToDevice(DevicePtr dst, void* src, long bytes)
    {
        using var scope = new CurrentContext(context);
        CudaCheck.Check(CuDriver.cuMemcpyHtoD_v2(dst.Value, src, (nuint)bytes), context.Device);
    }

    public unsafe void CopyToHost(void* dst, DevicePtr src, long bytes)
    {
        using var scope = new CurrentContext(context);
        CudaCheck.Check(CuDriver.cuMemcpyDtoH_v2(dst, src.Value, (nuint)bytes), context.Device);
    }

    public void Fill(DevicePtr dst, byte value, long bytes)
    {
        using var scope = new CurrentContext(context);
        CudaCheck.Check(CuDriver.cuMemsetD8_v2(dst.Value, value, (nuint)bytes), context.Device);
    }
}

/// <summary>Makes a context current on the calling thread (driver calls act on the thread's current context).</summary>
internal readonly struct CurrentContext : IDisposable
{
    [ThreadStatic] private static nint _current;

    public CurrentContext(CudaContextHandle ctx) => Ensure(ctx);

    public static void Ensure(CudaContextHandle ctx)
    {
        nint raw = ctx.DangerousGetHandle();
        if (_current == raw) return;
        CudaCheck.Check(CuDriver.cuCtxSetCurrent(raw), ctx.Device);
        _current = raw;
    }

    public void Dispose() { }
}

/// <summary>A CUDA stream with event timing and graph capture.</summary>
public sealed class CudaStream : IDisposable
{
    private readonly CudaContextHandle _ctx;

    public unsafe CudaStream(CudaContextHandle ctx)
    {
        _ctx = ctx;
        nint s;
        CudaCheck.Check(CuDriver.cuStreamCreate(&s, CuDriver.CU_STREAM_NON_BLOCKING), ctx.Device);
        Handle = new CudaStreamHandle(s, ctx);
    }

    public CudaStreamHandle Handle { get; }
    public nint Raw => Handle.DangerousGetHandle();

    public void Synchronize() => CudaCheck.Check(CuDriver.cuStreamSynchronize(Raw), _ctx.Device);

    public unsafe CudaEventHandle RecordEvent()
    {
        nint e;
        CudaCheck.Check(CuDriver.cuEventCreate(&e, CuDriver.CU_EVENT_DEFAULT), _ctx.Device);
        var handle = new CudaEventHandle(e, _ctx);
        CudaCheck.Check(CuDriver.cuEventRecord(e, Raw), _ctx.Device);
        return handle;
    }

    public static unsafe float ElapsedMilliseconds(CudaEventHandle start, CudaEventHandle end)
    {
        CudaCheck.Check(CuDriver.cuEventSynchronize(end.DangerousGetHandle()));
        float ms;
        CudaCheck.Check(CuDriver.cuEventElapsedTime(&ms, start.DangerousGetHandle(), end.DangerousGetHandle()));
        return ms;
    }

    public void BeginCapture() =>
        CudaCheck.Check(CuDriver.cuStreamBeginCapture_v2(Raw, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), _ctx.Device);

    /// <summary>Ends capture and instantiates the graph; launch it with <see cref="Launch(CudaGraphExecHandle)"/>.</summary>
    public unsafe CudaGraphExecHandle EndCapture()
    {
        nint graph;
        CudaCheck.Check(CuDriver.cuStreamEndCapture(Raw, &graph), _ctx.Device);
        using var g = new CudaGraphHandle(graph, _ctx);
        nint exec;
        CudaCheck.Check(CuDriver.cuGraphInstantiateWithFlags(&exec, graph, 0), _ctx.Device);
        return new CudaGraphExecHandle(exec, _ctx);
    }

    public void Launch(CudaGraphExecHandle exec) => CudaCheck.Check(CuDriver.cuGraphLaunch(exec.DangerousGetHandle(), Raw), _ctx.Device);

    public void Dispose() => Handle.Dispose();
}

/// <summary>Real GPU backend: primary context, one stream, NVRTC-compiled modules, optional cuBLAS.</summary>
public sealed class CudaBackend : IKernelBackend
{
    private readonly Dictionary<(string, string), CudaModuleHandle> _modules = [];
    private readonly Dictionary<(string, string, string), CudaFunction> _functions = [];
    private readonly KernelCompiler _compiler;
    private readonly Lock _gate = new();
    private nint _cublas;

    private unsafe CudaBackend(int ordinal, KernelCompiler compiler)
    {
        _compiler = compiler;
        CudaCheck.Check(CuDriver.cuInit(0));
        int dev;
        CudaCheck.Check(CuDriver.cuDeviceGet(&dev, ordinal), ordinal);
        int major, minor;
        CudaCheck.Check(CuDriver.cuDeviceGetAttribute(&major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), ordinal);
        CudaCheck.Check(CuDriver.cuDeviceGetAttribute(&minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), ordinal);
        Arch = major * 10 + minor;
        byte* name = stackalloc byte[256];
        CudaCheck.Check(CuDriver.cuDeviceGetName(name, 256, dev), ordinal);
        DeviceName = Marshal.PtrToStringUTF8((nint)name) ?? "?";
        Context = CudaContextHandle.RetainPrimary(dev);
        CurrentContext.Ensure(Context);
        Stream = new CudaStream(Context);
        Memory = new CudaDeviceMemory(Context);
    }

    /// <summary>Opens device <paramref name="ordinal"/>; throws <see cref="CudaException"/> with the probe reason when unavailable.</summary>
    public static CudaBackend Open(int ordinal = 0, KernelCompiler? compiler = null)
    {
        CudaProbeResult probe = CudaAvailability.Probe(ordinal);
        if (!probe.Available) throw new CudaException($"CUDA unavailable: {probe.Reason}");
        return new CudaBackend(ordinal, compiler ?? new KernelCompiler());
    }

    public string Name => "cuda";
    public int Arch { get; }
    public string DeviceName { get; }
    public CudaContextHandle Context { get; }
    public CudaStream Stream { get; }
    public IDeviceMemory Memory { get; }

    /// <summary>cuBLAS handle bound to <see cref="Stream"/>, or 0 when libcublas is absent (own GEMM kernel is used).</summary>
    public unsafe nint Cublas
    {
        get
        {
            lock (_gate)
            {
                if (_cublas == 0 && NativeLibraryResolver.TryLoad(NativeLibraryResolver.Cublas, out _, out _))
                {
                    nint h;
                    if (Native.Cublas.cublasCreate_v2(&h) == cublasStatus_t.CUBLAS_STATUS_SUCCESS)
                    {
                        Native.Cublas.cublasSetStream_v2(h, Stream.Raw);
                        _cublas = h;
                    }
                }
                return _cublas;
            }
        }
    }

    public unsafe CudaFunction GetFunction(string sourceName, string kernelName, KernelDefines defines)
    {
        CurrentContext.Ensure(Context);
        lock (_gate)
        {
            if (_functions.TryGetValue((sourceName, defines.Key, kernelName), out CudaFunction f)) return f;
            if (!_modules.TryGetValue((sourceName, defines.Key), out CudaModuleHandle? module))
            {
                CompiledKernel compiled = _compiler.Compile(sourceName, defines, Arch);
                nint m;
                fixed (byte* image = compiled.IsCubin ? compiled.Image : [.. compiled.Image, (byte)0])
                {
                    CudaCheck.Check(CuDriver.cuModuleLoadData(&m, image), Context.Device);
                }
                module = new CudaModuleHandle(m, Context);
                _modules[(sourceName, defines.Key)] = module;
            }
            nint fn;
            fixed (byte* n = Encoding.UTF8.GetBytes(kernelName + "\0"))
            {
                CudaCheck.Check(CuDriver.cuModuleGetFunction(&fn, module.DangerousGetHandle(), n), Context.Device);
            }
            f = new CudaFunction(fn, kernelName);
            _functions[(sourceName, defines.Key, kernelName)] = f;
            return f;
        }
    }

    public unsafe void Launch(CudaFunction function, Dim3 grid, Dim3 block, uint sharedBytes, scoped ref KernelArgs args)
    {
        CurrentContext.Ensure(Context);
        void** ptrs = stackalloc void*[Math.Max(args.Count, 1)];
        args.FillPointers(ptrs);
        CudaCheck.Check(CuDriver.cuLaunchKernel(function.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            sharedBytes, Stream.Raw, ptrs, null), Context.Device, $"cuLaunchKernel({function.Name})");
    }

    public void Synchronize()
    {
        CurrentContext.Ensure(Context);
        Stream.Synchronize();
    }

    public void BeginCapture()
    {
        CurrentContext.Ensure(Context);
        Stream.BeginCapture();
    }

    public IKernelGraph EndCapture()
    {
        CurrentContext.Ensure(Context);
        return new Graph(this, Stream.EndCapture());
    }

    private sealed class Graph(CudaBackend owner, CudaGraphExecHandle exec) : IKernelGraph
    {
        public void Launch()
        {
            ObjectDisposedException.ThrowIf(exec.IsClosed, this);
            CurrentContext.Ensure(owner.Context);
            owner.Stream.Launch(exec);
        }

        public void Dispose() => exec.Dispose();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_cublas != 0)
            {
                try { Native.Cublas.cublasDestroy_v2(_cublas); } catch (DllNotFoundException) { }
                _cublas = 0;
            }
            foreach (CudaModuleHandle m in _modules.Values) m.Dispose();
            _modules.Clear();
            _functions.Clear();
        }
        Stream.Dispose();
        Context.Dispose();
    }
}
