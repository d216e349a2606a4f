import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { OpenJpegModule } from "@cornerstonejs/codec-openjpeg/decodewasmjs";
import { ImageRefusal, thrownMessage } from "./refusal";

let loading: Promise<OpenJpegModule> | null = null;

/** OpenJPEG compiled to WebAssembly (shipped in the npm package, nothing downloaded): loaded once, on first use. */
function openJpeg(): Promise<OpenJpegModule> {
  if (!loading) {
    const require = createRequire(import.meta.url);
    loading = (async () => {
      const wasmBinary = await readFile(require.resolve("@cornerstonejs/codec-openjpeg/decodewasm"));
      const { default: init } = await import("@cornerstonejs/codec-openjpeg/decodewasmjs");
      // The build logs "[INFO] ..." lines for every frame: keep them out of the CLI's output.
      return await init({ print: () => {}, printErr: () => {}, wasmBinary });
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

export interface J2kFrame {
  width: number;
  height: number;
  bitsPerSample: number;
  components: number;
  signed: boolean;
  /** Component-interleaved samples: Uint8Array for <= 8 bits, Uint16Array / Int16Array above. */
  samples: Uint8Array | Uint16Array | Int16Array;
}

export async function decodeJpeg2000(codestream: Uint8Array, maxPixels: number): Promise<J2kFrame> {
  const lib = await openJpeg();
  const decoder = new lib.J2KDecoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    decoder.readHeader();
    const header = decoder.getFrameInfo();
    if (header.width * header.height > maxPixels)
      throw new ImageRefusal(
        "too_many_pixels",
        `JPEG 2000 image declares ${header.width} x ${header.height} pixels, over the limit of ${maxPixels}`,
      );
    decoder.decode();
    const info = decoder.getFrameInfo();
    const decoded = decoder.getDecodedBuffer();
    // Copy out of the WebAssembly heap before the decoder is freed.
    const bytes = new Uint8Array(decoded);
    let samples: J2kFrame["samples"] = bytes;
    if (info.bitsPerSample > 8) {
      const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      samples = info.isSigned ? new Int16Array(buf) : new Uint16Array(buf);
    }
    return {
      width: info.width,
      height: info.height,
      bitsPerSample: info.bitsPerSample,
      components: info.componentCount,
      signed: info.isSigned,
      samples,
    };
  } catch (err) {
    if (err instanceof ImageRefusal) throw err;
    throw new ImageRefusal("corrupt", `JPEG 2000 pixel data could not be decoded: ${thrownMessage(err)}`);
  } finally {
    decoder.delete();
  }
}
