using Pgmo.Nn;

namespace Pgmo.Models;

/// <summary>The paper's full-size ImageNet networks, from their published architectures.</summary>
internal static class Large
{
    /// <summary>A fully connected layer with weights of standard deviation 0.01, as torchvision initializes the
    /// classifiers of AlexNet, VGG and GoogLeNet (He initialization there makes the first logits large and the first
    /// steps on a small batch diverge).</summary>
    private static Linear Fc(ParameterFactory f, string name, int inFeatures, int outFeatures) => new(f, name, inFeatures, outFeatures, std: 0.01);

    private static Sequential ConvRelu(ParameterFactory f, string name, int cin, int cout, int k, int s = 1, int p = 0) =>
        new(new Conv2d(f, name, cin, cout, k, s, p), Lambda.Relu());

    /// <summary>The classifier of AlexNet and VGG after adaptive average pooling to pool x pool: three fully connected
    /// layers with dropout (p = 0.5) before fc6 and fc7 (AlexNet) or after their ReLUs (VGG), as torchvision has them.</summary>
    private static Sequential Classifier(ParameterFactory f, int channels, int pool, int hidden, int classes, bool dropoutFirst)
    {
        Module Drop(string name) => new Dropout(f, name, 0.5f);
        var s = new Sequential(Lambda.AdaptiveAvgPool(pool), Lambda.Flatten());
        if (dropoutFirst) s.Append(Drop("drop6"));
        s.Append(Fc(f, "fc6", channels * pool * pool, hidden)).Append(Lambda.Relu());
        s.Append(dropoutFirst ? Drop("drop7") : Drop("drop6"));
        s.Append(Fc(f, "fc7", hidden, hidden)).Append(Lambda.Relu());
        if (!dropoutFirst) s.Append(Drop("drop7"));
        return s.Append(Fc(f, "fc8", hidden, classes));
    }

    /// <summary>AlexNet as in torchvision (64-192-384-256-256 channels, adaptive pooling to 6x6, dropout 0.5): 61.1 M
    /// parameters.</summary>
    public static Module AlexNet(ParameterFactory f) => new Sequential(
        ConvRelu(f, "conv1", 3, 64, 11, 4, 2), Lambda.MaxPool(3, 2),       // 55 -> 27
        ConvRelu(f, "conv2", 64, 192, 5, 1, 2), Lambda.MaxPool(3, 2),      // 27 -> 13
        ConvRelu(f, "conv3", 192, 384, 3, 1, 1),
        ConvRelu(f, "conv4", 384, 256, 3, 1, 1),
        ConvRelu(f, "conv5", 256, 256, 3, 1, 1), Lambda.MaxPool(3, 2),     // 13 -> 6
        Classifier(f, 256, 6, 4096, 1000, dropoutFirst: true));

    /// <summary>VGG-16 (configuration D, adaptive pooling to 7x7, dropout 0.5 as in torchvision): 138.4 M parameters.</summary>
    public static Module Vgg16(ParameterFactory f)
    {
        var s = new Sequential();
        int cin = 3, block = 1, layer = 1;
        foreach (var v in new[] { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0 })
        {
            if (v == 0) { s.Append(Lambda.MaxPool(2, 2)); block++; layer = 1; continue; }
            s.Append(ConvRelu(f, $"conv{block}_{layer++}", cin, v, 3, 1, 1));
            cin = v;
        }
        return s.Append(Classifier(f, 512, 7, 4096, 1000, dropoutFirst: false));
    }

    private static Branches Inception(ParameterFactory f, string n, int cin, int c1, int r3, int c3, int r5, int c5, int pp) => new(
        ConvRelu(f, n + ".1x1", cin, c1, 1),
        new Sequential(ConvRelu(f, n + ".3x3r", cin, r3, 1), ConvRelu(f, n + ".3x3", r3, c3, 3, 1, 1)),
        new Sequential(ConvRelu(f, n + ".5x5r", cin, r5, 1), ConvRelu(f, n + ".5x5", r5, c5, 5, 1, 2)),
        new Sequential(Lambda.MaxPool(3, 1, 1), ConvRelu(f, n + ".pool", cin, pp, 1)));

    /// <summary>GoogLeNet as published (Szegedy et al. 2014, table 1), without the auxiliary heads, with the paper's
    /// dropout of 0.4 before the classifier (torchvision later uses 0.2): 7.0 M parameters. The paper's ceil-mode 3x3/2
    /// max pools are written as padded floor-mode pools (same output sizes at 224x224).</summary>
    public static Module GoogLeNet(ParameterFactory f) => new Sequential(
        ConvRelu(f, "conv1", 3, 64, 7, 2, 3), Lambda.MaxPool(3, 2, 1),                   // 112 -> 56
        ConvRelu(f, "conv2r", 64, 64, 1), ConvRelu(f, "conv2", 64, 192, 3, 1, 1), Lambda.MaxPool(3, 2, 1), // 28
        Inception(f, "3a", 192, 64, 96, 128, 16, 32, 32),
        Inception(f, "3b", 256, 128, 128, 192, 32, 96, 64), Lambda.MaxPool(3, 2, 1),      // 14
        Inception(f, "4a", 480, 192, 96, 208, 16, 48, 64),
        Inception(f, "4b", 512, 160, 112, 224, 24, 64, 64),
        Inception(f, "4c", 512, 128, 128, 256, 24, 64, 64),
        Inception(f, "4d", 512, 112, 144, 288, 32, 64, 64),
        Inception(f, "4e", 528, 256, 160, 320, 32, 128, 128), Lambda.MaxPool(3, 2, 1),    // 7
        Inception(f, "5a", 832, 256, 160, 320, 32, 128, 128),
        Inception(f, "5b", 832, 384, 192, 384, 48, 128, 128),
        Lambda.AdaptiveAvgPool(1), Lambda.Flatten(), new Dropout(f, "dropout", 0.4f),
        Fc(f, "fc", 1024, 1000));

    private static Module Bottleneck(ParameterFactory f, string n, int cin, int width, int stride) => new Residual(
        new Sequential(
            new ConvBnRelu(f, n + ".a", cin, width, 1),
            new ConvBnRelu(f, n + ".b", width, width, 3, stride, 1),
            new ConvBnRelu(f, n + ".c", width, width * 4, 1, relu: false)),
        stride != 1 || cin != width * 4 ? new ConvBnRelu(f, n + ".proj", cin, width * 4, 1, stride, 0, relu: false) : null);

    /// <summary>ResNet-50 (He et al. 2015, v1.5 as in torchvision): 25.6 M parameters.</summary>
    public static Module ResNet50(ParameterFactory f)
    {
        var s = new Sequential(new ConvBnRelu(f, "conv1", 3, 64, 7, 2, 3), Lambda.MaxPool(3, 2, 1));
        int cin = 64;
        var stages = new[] { (3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2) };
        for (int st = 0; st < stages.Length; st++)
        {
            var (blocks, width, stride) = stages[st];
            for (int b = 0; b < blocks; b++)
            {
                s.Append(Bottleneck(f, $"layer{st + 1}.{b}", cin, width, b == 0 ? stride : 1));
                cin = width * 4;
            }
        }
        return s.Append(Lambda.AdaptiveAvgPool(1)).Append(Lambda.Flatten()).Append(Fc(f, "fc", 2048, 1000));
    }

    private static ConvBnRelu B(ParameterFactory f, string n, int cin, int cout, int k, int s = 1, int p = 0) => new(f, n, cin, cout, k, s, p);
    private static ConvBnRelu B(ParameterFactory f, string n, int cin, int cout, int kh, int kw, int ph, int pw) => new(f, n, cin, cout, kh, kw, 1, ph, pw);

    private static Branches InceptionA(ParameterFactory f, string n, int cin, int pool) => new(
        B(f, n + ".b1", cin, 64, 1),
        new Sequential(B(f, n + ".b5_1", cin, 48, 1), B(f, n + ".b5_2", 48, 64, 5, 1, 2)),
        new Sequential(B(f, n + ".b3_1", cin, 64, 1), B(f, n + ".b3_2", 64, 96, 3, 1, 1), B(f, n + ".b3_3", 96, 96, 3, 1, 1)),
        new Sequential(Lambda.AvgPool(3, 1, 1), B(f, n + ".pool", cin, pool, 1)));

    private static Branches InceptionB(ParameterFactory f, string n, int cin) => new(
        B(f, n + ".b3", cin, 384, 3, 2),
        new Sequential(B(f, n + ".b3d_1", cin, 64, 1), B(f, n + ".b3d_2", 64, 96, 3, 1, 1), B(f, n + ".b3d_3", 96, 96, 3, 2)),
        Lambda.MaxPool(3, 2));

    private static Branches InceptionC(ParameterFactory f, string n, int cin, int c7) => new(
        B(f, n + ".b1", cin, 192, 1),
        new Sequential(B(f, n + ".b7_1", cin, c7, 1), B(f, n + ".b7_2", c7, c7, 1, 7, 0, 3), B(f, n + ".b7_3", c7, 192, 7, 1, 3, 0)),
        new Sequential(B(f, n + ".b7d_1", cin, c7, 1), B(f, n + ".b7d_2", c7, c7, 7, 1, 3, 0), B(f, n + ".b7d_3", c7, c7, 1, 7, 0, 3),
                       B(f, n + ".b7d_4", c7, c7, 7, 1, 3, 0), B(f, n + ".b7d_5", c7, 192, 1, 7, 0, 3)),
        new Sequential(Lambda.AvgPool(3, 1, 1), B(f, n + ".pool", cin, 192, 1)));

    private static Branches InceptionD(ParameterFactory f, string n, int cin) => new(
        new Sequential(B(f, n + ".b3_1", cin, 192, 1), B(f, n + ".b3_2", 192, 320, 3, 2)),
        new Sequential(B(f, n + ".b7_1", cin, 192, 1), B(f, n + ".b7_2", 192, 192, 1, 7, 0, 3), B(f, n + ".b7_3", 192, 192, 7, 1, 3, 0), B(f, n + ".b7_4", 192, 192, 3, 2)),
        Lambda.MaxPool(3, 2));

    private static Branches InceptionE(ParameterFactory f, string n, int cin) => new(
        B(f, n + ".b1", cin, 320, 1),
        new Sequential(B(f, n + ".b3_1", cin, 384, 1),
            new Branches(B(f, n + ".b3_2a", 384, 384, 1, 3, 0, 1), B(f, n + ".b3_2b", 384, 384, 3, 1, 1, 0))),
        new Sequential(B(f, n + ".b3d_1", cin, 448, 1), B(f, n + ".b3d_2", 448, 384, 3, 1, 1),
            new Branches(B(f, n + ".b3d_3a", 384, 384, 1, 3, 0, 1), B(f, n + ".b3d_3b", 384, 384, 3, 1, 1, 0))),
        new Sequential(Lambda.AvgPool(3, 1, 1), B(f, n + ".pool", cin, 192, 1)));

    /// <summary>Inception-v3 (Szegedy et al. 2015, torchvision layout, dropout 0.5 before the classifier) without the
    /// auxiliary classifier: 23.8 M parameters.</summary>
    public static Module InceptionV3(ParameterFactory f) => new Sequential(
        B(f, "Conv2d_1a", 3, 32, 3, 2), B(f, "Conv2d_2a", 32, 32, 3), B(f, "Conv2d_2b", 32, 64, 3, 1, 1), Lambda.MaxPool(3, 2), // 73
        B(f, "Conv2d_3b", 64, 80, 1), B(f, "Conv2d_4a", 80, 192, 3), Lambda.MaxPool(3, 2),                                      // 35
        InceptionA(f, "Mixed_5b", 192, 32), InceptionA(f, "Mixed_5c", 256, 64), InceptionA(f, "Mixed_5d", 288, 64),
        InceptionB(f, "Mixed_6a", 288),                                                                                         // 17
        InceptionC(f, "Mixed_6b", 768, 128), InceptionC(f, "Mixed_6c", 768, 160), InceptionC(f, "Mixed_6d", 768, 160), InceptionC(f, "Mixed_6e", 768, 192),
        InceptionD(f, "Mixed_7a", 768),                                                                                         // 8
        InceptionE(f, "Mixed_7b", 1280), InceptionE(f, "Mixed_7c", 2048),
        Lambda.AdaptiveAvgPool(1), new Dropout(f, "dropout", 0.5f), Lambda.Flatten(),
        Fc(f, "fc", 2048, 1000));
}
