declare module "@cornerstonejs/codec-openjpeg/decodewasmjs" {
  export interface J2KFrameInfo {
    width: number;
    height: number;
    bitsPerSample: number;
    componentCount: number;
    isSigned: boolean;
  }
  export interface J2KDecoder {
    getEncodedBuffer(length: number): Uint8Array;
    getDecodedBuffer(): Uint8Array;
    readHeader(): void;
    decode(): void;
    getFrameInfo(): J2KFrameInfo;
    delete(): void;
  }
  export interface OpenJpegModule {
    J2KDecoder: new () => J2KDecoder;
  }
  const init: (opts?: {
    print?: (s: string) => void;
    printErr?: (s: string) => void;
    wasmBinary?: Uint8Array;
  }) => Promise<OpenJpegModule>;
  export default init;
}
