// TEMPORARY stand-in with the agreed signatures; replaced by the memory-mapped reader.
namespace OpenAutoGlm.Weights;
public sealed unsafe class ModelFile : IDisposable
{
    private readonly byte[] _data;
    private System.Runtime.InteropServices.GCHandle _pin;
    public ModelManifest Manifest { get; }
    public string Directory { get; }
    private ModelFile(string dir, ModelManifest m, byte[] data) { Directory = dir; Manifest = m; _data = data; _pin = System.Runtime.InteropServices.GCHandle.Alloc(data, System.Runtime.InteropServices.GCHandleType.Pinned); }
    public static ModelFile Open(string dir, bool verifyChecksums = false)
    {
        var m = ModelManifest.FromJson(File.ReadAllText(Path.Combine(dir, ModelManifest.FileName)));
        return new ModelFile(dir, m, File.ReadAllBytes(Path.Combine(dir, m.WeightsFile)));
    }
    public nint GetPointer(string name) => _pin.AddrOfPinnedObject() + (nint)(Manifest.FindTensor(name) ?? throw new InvalidModelException(name)).Offset;
    public ReadOnlySpan<Half> GetHalf(string name) { var t = Manifest.FindTensor(name)!; return new ReadOnlySpan<Half>((void*)GetPointer(name), (int)(t.Length / 2)); }
    public ReadOnlySpan<float> GetSingle(string name) { var t = Manifest.FindTensor(name)!; return new ReadOnlySpan<float>((void*)GetPointer(name), (int)(t.Length / 4)); }
    public void VerifyChecksums() { }
    public void Dispose() { if (_pin.IsAllocated) _pin.Free(); }
}
