using Pgmo.Nn;

namespace Pgmo.Models;

/// <summary>Networks for the 8x8 one-channel digits.</summary>
internal static class Small
{
    public static Module Mlp(ParameterFactory f) => new Sequential(
        Lambda.Flatten(),
        new Linear(f, "fc1", 64, 128), Lambda.Relu(),
        new Linear(f, "fc2", 128, 64), Lambda.Relu(),
        new Linear(f, "fc3", 64, 10));

    public static Module Cnn(ParameterFactory f) => new Sequential(
        new Conv2d(f, "conv1", 1, 16, 3, pad: 1), Lambda.Relu(), Lambda.MaxPool(2, 2),   // 16x4x4
        new Conv2d(f, "conv2", 16, 32, 3, pad: 1), Lambda.Relu(), Lambda.MaxPool(2, 2),  // 32x2x2
        Lambda.Flatten(),
        new Linear(f, "fc", 128, 10));

    public static Module LeNet(ParameterFactory f) => new Sequential(
        new Conv2d(f, "conv1", 1, 6, 3, pad: 1), Lambda.Relu(), Lambda.MaxPool(2, 2),    // 6x4x4
        new Conv2d(f, "conv2", 6, 16, 3, pad: 1), Lambda.Relu(), Lambda.AvgPool(2, 2),   // 16x2x2
        Lambda.Flatten(),
        new Linear(f, "fc1", 64, 120), Lambda.Relu(),
        new Linear(f, "fc2", 120, 84), Lambda.Relu(),
        new Linear(f, "fc3", 84, 10));

    public static Module ResNet(ParameterFactory f) => new Sequential(
        new ConvBnRelu(f, "stem", 1, 16, 3, pad: 1),
        Basic(f, "block1", 16, 16, 1),
        Basic(f, "block2", 16, 32, 2),   // 32x4x4
        Basic(f, "block3", 32, 32, 1),
        Lambda.GlobalAvgPool(),
        Lambda.Flatten(),
        new Linear(f, "fc", 32, 10));

    /// <summary>The basic residual block of ResNet-18/34: two 3x3 conv-BN, projection shortcut when the shape changes.</summary>
    public static Module Basic(ParameterFactory f, string name, int cin, int cout, int stride) => new Residual(
        new Sequential(
            new ConvBnRelu(f, name + ".a", cin, cout, 3, stride, 1),
            new ConvBnRelu(f, name + ".b", cout, cout, 3, 1, 1, relu: false)),
        stride != 1 || cin != cout ? new ConvBnRelu(f, name + ".proj", cin, cout, 1, stride, 0, relu: false) : null);
}
