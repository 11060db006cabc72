using System.IO.MemoryMappedFiles;

namespace OpenAutoGlm.Weights;

/// <summary>A whole file mapped read-only; the view pointer is acquired once and released on Dispose.</summary>
internal sealed unsafe class MappedFile : IWeightStore
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    private MappedFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _pointer = pointer;
    }

    /// <summary>Maps <paramref name="path"/>; an empty file cannot be mapped, so it is reported as unusable.</summary>
    public static MappedFile Open(string path)
    {
        if (!File.Exists(path)) throw new InvalidModelException($"{path}: file not found.");
        long length;
        try { length = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidModelException($"{path}: cannot be read: {e.Message}", e); }
        if (length == 0) throw new InvalidModelException($"{path}: file is empty.");

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new MappedFile(path, length, map, view, pointer + view.PointerOffset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            view?.Dispose();
            map?.Dispose();
            throw new InvalidModelException($"{path}: cannot be mapped: {e.Message}", e);
        }
    }

    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    /// <summary>Bytes [offset, offset + length) of the file; the caller has checked the range.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length) => new(Pointer + offset, length);

    public void Dispose()
    {
        if (_pointer == null) return;
        _pointer = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
