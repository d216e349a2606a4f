import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";

interface ConvLayerLike {
  rank: number;
  bias: unknown;
  kernel: { read(): tf.Tensor } | null | undefined;
  strides: number[];
  padding: "same" | "valid" | "causal";
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string } | null | undefined;
}

type LayerCall = (
  inputs: tf.Tensor | tf.Tensor[],
  kwargs: Record<string, unknown>,
) => tf.Tensor | tf.Tensor[];

let conv2dPrototype: { call?: LayerCall } | null = null;

/**
 * tfjs-layers' Conv2D always runs tf.fused.conv2d, whose gradient (a customGrad) computes the
 * gradient of the input as well as the kernel's, needed or not. For the first convolution of a
 * network the input is the image, whose gradient nothing uses: on the wasm backend that wasted
 * Conv2DBackpropInput of a 1-channel stem (four phase convolutions and a slow 1-channel Concat)
 * was 4-5% of a training step. With this switch on (the default once initBackend has run), a
 * Conv2D without bias or activation (every convolution of our encoders: batch norm follows them)
 * runs tf.conv2d, whose registered gradient is lazy: the tape computes only the gradients it
 * needs. Same XNNPACK convolution forward, same values. Other convolutions keep the layer's call.
 */
export function setPlainConvForLinearLayers(on: boolean): void {
  if (conv2dPrototype === null) {
    const proto: unknown = Object.getPrototypeOf(tfl.layers.conv2d({ filters: 1, kernelSize: 1 }));
    if (
      typeof proto !== "object" ||
      proto === null ||
      !("call" in proto) ||
      typeof proto.call !== "function"
    ) {
      throw new Error("setPlainConvForLinearLayers: tfjs-layers' Conv2D has no call method");
    }
    conv2dPrototype = proto as { call?: LayerCall };
  }
  const proto = conv2dPrototype;
  // Conv2D inherits `call` from its base class; an own property shadows it and deleting it restores.
  if (!on) {
    if (Object.hasOwn(proto, "call")) delete proto.call;
    return;
  }
  const inherited: unknown = Object.getPrototypeOf(proto)?.call;
  if (typeof inherited !== "function") throw new Error("setPlainConvForLinearLayers: no base call");
  const base = inherited as LayerCall;
  proto.call = function plainConvCall(this: ConvLayerLike, inputs, kwargs) {
    const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
    const dilation = typeof this.dilationRate === "number" ? [this.dilationRate] : this.dilationRate;
    const kernel = this.kernel;
    if (
      input === undefined ||
      input.rank !== 4 ||
      this.rank !== 2 ||
      this.bias !== null ||
      !kernel ||
      this.activation?.getClassName() !== "linear" ||
      this.dataFormat !== "channelsLast" ||
      this.padding === "causal" ||
      dilation.some((d) => d !== 1)
    ) {
      return base.call(this, inputs, kwargs);
    }
    const [sh = 1, sw = sh] = this.strides;
    return tf.conv2d(input as tf.Tensor4D, kernel.read() as tf.Tensor4D, [sh, sw], this.padding);
  };
}
