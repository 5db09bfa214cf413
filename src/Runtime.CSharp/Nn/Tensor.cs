using Pgmo.Memory;

namespace Pgmo.Nn;

/// <summary>Element type of a tensor (both are 4 bytes).</summary>
public enum DType { F32, I32 }

/// <summary>Device memory shared by tensors that view it (a reshape shares its input's storage).</summary>
internal sealed class Storage
{
    private readonly IDeviceAllocator allocator;
    private int refs = 1;

    public Storage(IDeviceAllocator allocator, DeviceBlock block) { this.allocator = allocator; Block = block; }

    public DeviceBlock Block { get; }
    public void Retain() => refs++;
    public void Release()
    {
        if (--refs == 0) allocator.Free(Block);
        else if (refs < 0) throw new InvalidOperationException($"storage {Block.Tag} released too often");
    }
}

/// <summary>
/// A dense NCHW (or [N, features]) tensor: a shape and a view into a block from the allocator. Handles are
/// reference counted: every op consumes the handles it is given, <see cref="Share"/> adds a handle for a second use,
/// and the memory goes back to the allocator when the last handle is released (at the tensor's last use).
/// </summary>
public sealed class Tensor
{
    private readonly Storage storage;
    private int refs = 1;

    internal Tensor(int[] shape, DType dtype, Storage storage)
    {
        Shape = shape;
        DType = dtype;
        this.storage = storage;
        Length = Count(shape);
    }

    /// <summary>The sizes of the dimensions (outermost first).</summary>
    public int[] Shape { get; }
    /// <summary>Number of elements.</summary>
    public long Length { get; }
    /// <summary>Element type.</summary>
    public DType DType { get; }
    /// <summary>True when gradients flow back to this tensor (parameters and everything computed from them).</summary>
    public bool RequiresGrad { get; internal set; }
    /// <summary>The accumulated gradient of a leaf (a parameter) after <see cref="Tape.Backward(Tensor)"/>; null before.</summary>
    public Tensor? Grad { get; internal set; }
    /// <summary>The tag of the memory block behind the tensor.</summary>
    public string Tag => storage.Block.Tag;
    /// <summary>The allocator block behind the tensor.</summary>
    public DeviceBlock Block => storage.Block;
    /// <summary>Handles still open on this tensor.</summary>
    public int References => refs;

    /// <summary>Size of dimension <paramref name="i"/>.</summary>
    public int this[int i] => Shape[i];

    /// <summary>The data as floats (throws in shapes-only mode).</summary>
    public ArrayView<float> View => DType == DType.F32 ? storage.Block.View<float>(Length) : throw new InvalidOperationException("not a float tensor");
    /// <summary>The data as ints (throws in shapes-only mode).</summary>
    public ArrayView<int> IntView => DType == DType.I32 ? storage.Block.View<int>(Length) : throw new InvalidOperationException("not an int tensor");

    /// <summary>One more handle on the same tensor (release each handle once).</summary>
    public Tensor Share()
    {
        if (refs <= 0) throw new InvalidOperationException($"tensor {Tag} used after its last release");
        refs++;
        return this;
    }

    /// <summary>Closes one handle; the last one gives the memory back.</summary>
    public void Release()
    {
        if (refs <= 0) throw new InvalidOperationException($"tensor {Tag} released too often");
        if (--refs == 0) storage.Release();
    }

    /// <summary>A tensor of another shape over the same storage (consumes this handle).</summary>
    internal Tensor Reshaped(int[] shape)
    {
        if (Count(shape) != Length) throw new ArgumentException($"cannot reshape [{string.Join(",", Shape)}] to [{string.Join(",", shape)}]");
        storage.Retain();
        var t = new Tensor(shape, DType, storage) { RequiresGrad = RequiresGrad };
        Release();
        return t;
    }

    /// <summary>The product of the dimensions.</summary>
    public static long Count(int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }

    public override string ToString() => $"{Tag}[{string.Join("x", Shape)}]";
}
